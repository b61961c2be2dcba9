// Who uses the page: a viewer, or an operator. Operator controls (Start, Cancel) carry the class
// `operator-only` and show only while the page may use them: when the api lets anyone write (a
// laptop), or once an operator has signed in with a token (pasted, kept for this tab only).

import * as api from './api.js';

const $ = (id) => document.getElementById(id);

export class Session {
  /** `onSignedOut(message)` when a kept token is no longer accepted. */
  constructor({ onSignedOut }) {
    this.onSignedOut = onSignedOut;
    this.dialog = $('sign-in-dialog');
    $('sign-in').addEventListener('click', () => this.open());
    $('sign-out').addEventListener('click', () => this.signOut());
    this.dialog.querySelector('form').addEventListener('submit', (event) => this.submit(event));
  }

  /** Asks the api who the page is; drops a kept token that it no longer accepts. */
  async load() {
    try {
      this.apply(await api.session());
    } catch (e) {
      if (!api.hasToken()) throw e;
      api.useToken(null);
      this.onSignedOut(`Signed out: ${e.message}`);
      this.apply(await api.session());
    }
  }

  apply(session) {
    this.current = session;
    const operator = session.role === 'operator';
    document.body.classList.toggle('operator', operator);
    $('sign-in').hidden = session.writes !== 'sign-in' || session.signedIn;
    $('who').hidden = !session.signedIn;
    $('who-role').textContent = session.role;
    $('read-only').hidden = session.writes !== 'read-only';
  }

  open() {
    $('sign-in-error').textContent = '';
    $('token').value = '';
    this.dialog.showModal();
  }

  async submit(event) {
    if (event.submitter?.value === 'cancel') return; // the dialog closes itself
    event.preventDefault();
    api.useToken($('token').value.trim());
    try {
      const session = await api.session();
      this.apply(session);
      if (session.role === 'operator') this.dialog.close();
      else $('sign-in-error').textContent = 'This token is a viewer\u2019s: it unlocks no controls.';
    } catch (e) {
      api.useToken(null);
      $('sign-in-error').textContent = e.message;
    }
  }

  async signOut() {
    api.useToken(null);
    this.apply(await api.session());
  }
}
