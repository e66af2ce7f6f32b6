// The answer to a signed-in tenant who opens an admin screen: a plain 403, not a blank page.
import { html } from '../html.js';
import { Link } from '../router.js';
import { useTitle } from '../ui.js';

export function Forbidden() {
  useTitle('Not allowed');
  return html`<main class="public" id="main">
    <div class="narrow card forbidden" data-status="403">
      <h1>403 · Not allowed</h1>
      <p>The admin screens are for the deployment's administrators. Your account is a workspace
        account, so there is nothing here for it.</p>
      <p><${Link} href="/app/inbox">Back to your inbox</${Link}></p>
    </div>
  </main>`;
}
