// Settings: the account (password, sign out everywhere), the channel, the data export, and
// deleting the account.
import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { html } from '../html.js';
import { Link, navigate } from '../router.js';
import { signedOut } from '../session.js';
import { Button, Field, FormError, toast, useForm, useTitle } from '../ui.js';
import { ChannelBadge, useChannel } from './shell.js';

function ChangePassword() {
  const f = useForm({ current_password: '', new_password: '' });
  const onSubmit = f.submit(async (v) => {
    await post('/auth/change-password', v);
    f.setValues({ current_password: '', new_password: '' });
    toast('Password changed; your other sessions are signed out', 'success');
  });
  return html`<form onSubmit=${onSubmit} aria-label="Change password" novalidate>
    <h3>Change password</h3>
    <${FormError} error=${f.errors._form} />
    <div class="row">
      <${Field} label="Current password" type="password" autocomplete="current-password" ...${f.bind('current_password')} />
      <${Field} label="New password" type="password" autocomplete="new-password" hint="At least 10 characters."
        ...${f.bind('new_password')} />
    </div>
    <${Button} type="submit" busy=${f.busy}>Change password</${Button}>
  </form>`;
}

function DeleteAccount() {
  const f = useForm({ password: '', confirm: false });
  const onSubmit = f.submit(async (v) => {
    if (!v.confirm) {
      throw Object.assign(new Error('tick the box to confirm that everything will be deleted'), { field: 'confirm' });
    }
    await post('/auth/delete-account', { password: v.password });
    signedOut();
    navigate('/');
    toast('Your account and all its data are deleted', 'success');
  });
  const confirm = f.bind('confirm');
  return html`<form onSubmit=${onSubmit} aria-label="Delete account" novalidate>
    <p>Deletes your workspace: contacts, conversations, messages and broadcasts. It cannot be undone;
      download your data first.</p>
    <${FormError} error=${f.errors._form} />
    <${Field} label="Your password" type="password" autocomplete="current-password" ...${f.bind('password')} />
    <div class=${`field check${confirm.error ? ' has-error' : ''}`}>
      <label><input type="checkbox" name="confirm" checked=${f.values.confirm} onChange=${confirm.onInput}
        aria-invalid=${confirm.error ? 'true' : undefined} aria-describedby=${confirm.error ? 'confirm-err' : undefined} />
        I understand that everything is deleted for good</label>
      ${confirm.error && html`<p class="error" id="confirm-err" role="alert">${confirm.error}</p>`}
    </div>
    <${Button} type="submit" kind="danger" busy=${f.busy}>Delete my account</${Button}>
  </form>`;
}

export function Settings({ session }) {
  useTitle('Settings');
  const hasSlice = Boolean(session.slice);
  const c = useChannel(hasSlice);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const logoutAll = async () => {
    setBusy(true);
    try {
      await post('/auth/logout-all');
      signedOut();
      navigate('/login');
    } catch (e) {
      setError(e.message);
      setBusy(false);
    }
  };
  return html`<section class="page settings">
    <h1>Settings</h1>
    <section class="card" aria-labelledby="s-account">
      <h2 id="s-account">Account</h2>
      <p>Signed in as <strong>${session.user.email}</strong>.</p>
      <${ChangePassword} />
      <h3>Sessions</h3>
      <${FormError} error=${error} />
      <p>Signs out every browser and device using this account, this one included.</p>
      <${Button} kind="secondary" busy=${busy} onClick=${logoutAll}>Sign out everywhere</${Button}>
    </section>
    ${hasSlice && html`<section class="card" aria-labelledby="s-channel">
      <h2 id="s-channel">WhatsApp channel</h2>
      <p><${ChannelBadge} channel=${c} /> ${c && c.kind && html`<span class="muted">(${c.kind})</span>`}</p>
      <${Link} href="/app/connect">Open the connect page</${Link}>
    </section>
    <section class="card" aria-labelledby="s-export">
      <h2 id="s-export">Your data</h2>
      <p>Every contact, conversation, message and broadcast as JSON lines, one object a line.</p>
      <a class="btn btn-secondary" href="/api/export" download>Download my data</a>
    </section>`}
    <section class="card danger-zone" aria-labelledby="s-delete">
      <h2 id="s-delete">Delete my account</h2>
      <${DeleteAccount} />
    </section>
  </section>`;
}
