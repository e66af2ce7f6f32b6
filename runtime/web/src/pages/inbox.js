// The inbox: conversations newest first (search, cursor paging), a thread with its messages and a
// send box, a "new conversation" form. Everything moves live through /api/events.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api, get, post, query } from '../api.js';
import { Sentinel, usePaged } from '../paged.js';
import { useEvent } from '../events.js';
import { html } from '../html.js';
import { Link, navigate, useRoute } from '../router.js';
import { Badge, Button, Field, FormError, formatTime, toast, useForm, useTitle } from '../ui.js';

const byRecent = (a, b) => (b.last_message_at || b.created_at || '').localeCompare(a.last_message_at || a.created_at || '') || b.id - a.id;

function ConversationList({ activeId, q, raw, setQ }) {
  const list = usePaged('/api/conversations', { q });
  const upsert = (conv) =>
    list.setItems((items) => [conv, ...items.filter((c) => c.id !== conv.id)].sort(byRecent));
  // conversation.updated may carry only what changed ({id, unread, last_message_at}): merge it
  // into the row, or fetch the whole conversation when it is not listed yet.
  useEvent('conversation.updated', (change) => {
    const known = list.items.find((c) => c.id === change.id);
    if (known) {
      upsert({ ...known, ...change });
    } else if (!q) {
      get(`/api/conversations/${change.id}`).then(upsert, () => {});
    }
  });
  useEvent('message.created', (m) => {
    const known = list.items.find((c) => c.id === m.conversation_id);
    if (known) {
      upsert({ ...known, last_message_at: m.created_at });
    } else if (!q) {
      get(`/api/conversations/${m.conversation_id}`).then(upsert, () => {});
    }
  });
  useEvent('contact.deleted', ({ id }) => list.setItems((items) => items.filter((c) => c.contact.id !== id)));
  return html`<div class="conv-list">
    <form role="search" class="search" onSubmit=${(e) => e.preventDefault()}>
      <label for="conv-q" class="sr-only">Search conversations</label>
      <input id="conv-q" type="search" placeholder="Search by name or number" value=${raw}
        onInput=${(e) => setQ(e.currentTarget.value)} />
    </form>
    ${list.error && html`<div class="alert alert-error" role="alert">${list.error}</div>`}
    <ul class="list" aria-label="Conversations">
      ${list.items.map((c) => html`<li key=${c.id} class=${`conv${c.id === activeId ? ' active' : ''}`}>
        <${Link} href=${`/app/inbox/${c.id}`} aria-current=${c.id === activeId ? 'page' : undefined}>
          <span class="conv-name">${c.contact.name}</span>
          <span class="conv-meta">
            <span class="conv-time">${formatTime(c.last_message_at || c.created_at)}</span>
            ${c.unread > 0 && c.id !== activeId && html`<${Badge} kind="primary" aria-label=${`${c.unread} unread`}>${c.unread}</${Badge}>`}
          </span>
          <span class="conv-phone">${c.contact.phone}</span>
        </${Link}>
      </li>`)}
    </ul>
    ${!list.loading && list.items.length === 0 && html`<p class="empty">${q ? 'No conversation matches.' : 'No conversations yet.'}</p>`}
    ${list.next && html`<${Sentinel} onVisible=${list.loadMore} />
      <${Button} kind="ghost" busy=${list.loading} onClick=${list.loadMore}>Load more</${Button}>`}
  </div>`;
}

function Ticks({ m }) {
  if (m.direction !== 'outbound') {
    return null;
  }
  switch (m.status) {
    case 'queued': return html`<span class="ticks" title="Queued" aria-label="queued">🕓</span>`;
    case 'sent': return html`<span class="ticks" title="Sent" aria-label="sent">✓</span>`;
    case 'delivered': return html`<span class="ticks" title="Delivered" aria-label="delivered">✓✓</span>`;
    case 'read': return html`<span class="ticks read" title="Read" aria-label="read">✓✓</span>`;
    case 'failed': return html`<span class="ticks failed" aria-label="failed">failed: ${m.error}</span>`;
    default: return null;
  }
}

function Thread({ id }) {
  const [conv, setConv] = useState(null);
  const [messages, setMessages] = useState([]); // oldest first
  const [next, setNext] = useState(null);
  const [error, setError] = useState(null);
  const bottom = useRef(null);
  const stick = useRef(true);
  const f = useForm({ body: '' });

  const markRead = () => post(`/api/conversations/${id}/read`).then((c) => setConv((old) => ({ ...old, ...c })), () => {});
  useEffect(() => {
    setConv(null);
    setMessages([]);
    setError(null);
    stick.current = true;
    get(`/api/conversations/${id}`).then(setConv, (e) => setError(e.message));
    get(`/api/conversations/${id}/messages?limit=50`).then((page) => {
      setMessages(page.items.slice().reverse());
      setNext(page.next_cursor);
    }, (e) => setError(e.message));
    markRead();
  }, [id]);
  useLayoutEffect(() => {
    if (stick.current && bottom.current) {
      bottom.current.scrollIntoView({ block: 'end' });
    }
  }, [messages]);

  useEvent('message.created', (m) => {
    if (m.conversation_id !== id) {
      return;
    }
    setMessages((list) => (list.some((x) => x.id === m.id) ? list : [...list, m]));
    if (m.direction === 'inbound') {
      markRead();
    }
  });
  useEvent('message.status', (m) => {
    setMessages((list) => list.map((x) => (x.id === m.id ? { ...x, ...m } : x)));
  });
  useEvent('conversation.updated', (c) => c.id === id && setConv((old) => ({ ...old, ...c })));

  const older = async () => {
    stick.current = false;
    const page = await get(`/api/conversations/${id}/messages${query({ cursor: next, limit: 50 })}`);
    setMessages((list) => [...page.items.slice().reverse(), ...list]);
    setNext(page.next_cursor);
  };
  const send = f.submit(async (v) => {
    const m = await api('POST', `/api/conversations/${id}/messages`, { body: v.body });
    stick.current = true;
    setMessages((list) => (list.some((x) => x.id === m.id) ? list : [...list, m]));
    f.setValues({ body: '' });
  });
  const onKey = (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      send(e);
    }
  };
  return html`<section class="thread" aria-label="Conversation">
    <header class="thread-head">
      <${Link} href="/app/inbox" class="back">← All</${Link}>
      ${conv && conv.contact && html`<div><h2>${conv.contact.name}</h2><span class="muted">${conv.contact.phone}</span></div>`}
    </header>
    ${error && html`<div class="alert alert-error" role="alert">${error}</div>`}
    <ol class="messages" aria-label="Messages" aria-live="polite">
      ${next && html`<li class="older"><${Button} kind="ghost" onClick=${older}>Older messages</${Button}></li>`}
      ${messages.map((m) => html`<li key=${m.id} class=${`msg msg-${m.direction}`} data-status=${m.status}>
        <p>${m.body}</p>
        <span class="msg-meta">${formatTime(m.created_at)} <${Ticks} m=${m} /></span>
      </li>`)}
      <li ref=${bottom} class="end" aria-hidden="true"></li>
    </ol>
    <form class="sendbox" onSubmit=${send}>
      <${FormError} error=${f.errors._form} />
      <${Field} label="Message" as="textarea" rows="2" placeholder="Write a reply — Enter sends, Shift+Enter for a new line"
        onKeyDown=${onKey} ...${f.bind('body')} />
      <${Button} type="submit" busy=${f.busy}>Send</${Button}>
    </form>
  </section>`;
}

function NewConversation({ onClose }) {
  const [contacts, setContacts] = useState([]);
  const f = useForm({ phone: '', contact_id: '', text: '' });
  useEffect(() => {
    get('/api/contacts?limit=100').then((p) => setContacts(p.items), () => {});
  }, []);
  const onSubmit = f.submit(async (v) => {
    const body = v.contact_id ? { contact_id: Number(v.contact_id), text: v.text } : { phone: v.phone, text: v.text };
    const m = await post('/api/messages', body);
    toast('Message queued');
    onClose();
    navigate(`/app/inbox/${m.conversation_id}`);
  });
  return html`<form class="card new-conv" onSubmit=${onSubmit} aria-label="New conversation">
    <h2>New conversation</h2>
    <${FormError} error=${f.errors._form} />
    <${Field} label="Contact" as="select" ...${f.bind('contact_id')} onChange=${f.bind('contact_id').onInput}>
      <option value="">— a new number (below) —</option>
      ${contacts.map((c) => html`<option value=${c.id}>${c.name} (${c.phone})</option>`)}
    </${Field}>
    ${!f.values.contact_id && html`<${Field} label="Phone number" type="tel" autocomplete="off" placeholder="+14155550123"
      hint="International format, with the country code." ...${f.bind('phone')} />`}
    <${Field} label="Message" as="textarea" rows="3" ...${f.bind('text')} />
    <div class="actions">
      <${Button} type="submit" busy=${f.busy}>Send</${Button}>
      <${Button} type="button" kind="ghost" onClick=${onClose}>Cancel</${Button}>
    </div>
  </form>`;
}

export function Inbox() {
  useTitle('Inbox');
  const { path } = useRoute();
  const m = /^\/app\/inbox\/(\d+)$/.exec(path);
  const activeId = m ? Number(m[1]) : null;
  const [q, setQ] = useState('');
  const [debounced, setDebounced] = useState('');
  const [composing, setComposing] = useState(false);
  useEffect(() => {
    const t = setTimeout(() => setDebounced(q.trim()), 250);
    return () => clearTimeout(t);
  }, [q]);
  return html`<section class=${`page inbox${activeId ? ' has-thread' : ''}`}>
    <div class="page-head">
      <h1>Inbox</h1>
      <${Button} onClick=${() => setComposing(true)}>New conversation</${Button}>
    </div>
    ${composing && html`<${NewConversation} onClose=${() => setComposing(false)} />`}
    <div class="inbox-grid">
      <${ConversationList} activeId=${activeId} q=${debounced} raw=${q} setQ=${setQ} />
      ${activeId ? html`<${Thread} key=${activeId} id=${activeId} />`
        : html`<div class="thread empty-thread"><p>Choose a conversation, or start a new one.</p></div>`}
    </div>
  </section>`;
}
