// Connect: the QR to scan with the business phone, the state changing live; in the simulator a
// button plays the phone's part, with WhatsApp Web (wa-web) a pairing code is the alternative to
// the QR. Once connected: the number and a way to disconnect.
import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { html } from '../html.js';
import { Button, Field, FormError, toast, useForm, useTitle } from '../ui.js';
import { ChannelBadge, reloadChannel, useChannel } from './shell.js';

// A short cache-busting version of the QR payload: a new payload is a new image.
function version(s) {
  let h = 0;
  for (let i = 0; i < s.length; i++) {
    h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  }
  return (h >>> 0).toString(36);
}

export function Connect() {
  useTitle('Connect WhatsApp');
  const c = useChannel();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const act = (fn) => async () => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      await reloadChannel();
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };
  const pair = act(() => post('/api/channel/simulator/pair', { qr: c.qr }));
  const simulator = c && c.kind === 'simulator';
  const waWeb = c && c.kind === 'wa-web';
  const logout = act(async () => {
    await post(waWeb ? '/api/channel/wa-web/logout' : '/api/channel/simulator/logout');
    toast('Disconnected: scan the new code to connect again');
  });
  const code = useForm({ phone: '' });
  const [pairingCode, setPairingCode] = useState(null);
  const requestCode = code.submit(async (v) => {
    setPairingCode(null);
    const r = await post('/api/channel/wa-web/pair-code', { phone: v.phone });
    setPairingCode(r.code);
  });
  const stopped = c && (c.state === 'failed' || c.state === 'banned');
  return html`<section class="page">
    <h1>Connect WhatsApp</h1>
    <div class="card connect">
      <p>State: <${ChannelBadge} channel=${c} /></p>
      <${FormError} error=${error} />
      ${c && c.state === 'connected' && html`<div>
        <p class="big">Connected as <strong data-testid="phone">${c.phone}</strong>.</p>
        <p>Messages and broadcasts go out from this number.</p>
        ${(simulator || waWeb) && html`<${Button} kind="secondary" busy=${busy} onClick=${logout}>Disconnect</${Button}>`}
      </div>`}
      ${c && c.state !== 'connected' && c.qr && html`<div class="qr">
        <img src=${`/api/channel/qr.svg?v=${version(c.qr)}`} width="264" height="264"
          alt="QR code: scan it with WhatsApp on the business phone (Settings, Linked devices, Link a device)" />
        <ol>
          <li>Open WhatsApp on the business phone.</li>
          <li>Go to Settings → Linked devices → Link a device.</li>
          <li>Point the phone at this code. This page updates by itself.</li>
        </ol>
        ${simulator && html`<${Button} busy=${busy} onClick=${pair}>Scan with the simulated phone</${Button}>`}
      </div>`}
      ${waWeb && c.state !== 'connected' && !stopped && html`<form class="pair-code" onSubmit=${requestCode}>
        <h2>Or link with a code</h2>
        <${FormError} error=${code.errors._form} />
        <${Field} label="The business phone's number" type="tel" autocomplete="off" placeholder="+4915112345678"
          hint="On the phone: Linked devices → Link a device → Link with phone number instead." required
          ...${code.bind('phone')} />
        <${Button} type="submit" busy=${code.busy}>Get a pairing code</${Button}>
        ${pairingCode && html`<p class="big" role="status">Enter <strong data-testid="pair-code">${pairingCode}</strong> on the phone.</p>`}
      </form>`}
      ${c && c.state !== 'connected' && !c.qr && html`<p>${c.detail || 'Waiting for the channel…'}</p>`}
      ${waWeb && stopped && html`<div>
        <p>${c.state === 'banned' ? 'WhatsApp banned this number' : 'The session failed'}: it will not reconnect by itself.</p>
        <${Button} busy=${busy} onClick=${logout}>Start again with a new QR code</${Button}>
      </div>`}
    </div>
  </section>`;
}
