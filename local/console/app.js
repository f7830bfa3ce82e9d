// The demo console: sign in with Logto's browser SDK, then organizations, members, roles, invitations. Every API
// call goes through api.js with a token from the SDK: getAccessToken(API_RESOURCE) for global calls,
// getOrganizationToken(organizationId) for one organization's (the SDK caches them and renews them with its
// refresh token when they expire).
import { LogtoClient, UserScope } from '/vendor/logto-browser.js';
import { ApiError, createApi } from './api.js';

const $ = (id) => document.getElementById(id);
const state = { user: null, org: null, page: 1, roles: [] };
let api;
let logto;
let resource;

// The permissions this console may use. Logto puts in a token only the permissions the app asked for at sign-in
// (among those the user's roles grant), so an app lists every one it needs here.
const PERMISSIONS = ['org:create', 'org:update', 'org:delete', 'member:read', 'member:add', 'member:remove', 'role:assign', 'member:invite', 'audit:read'];

// A tiny element builder; text is always set as text (names and e-mails come from Logto, never as HTML).
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value);
  }
  el.append(...children.filter((c) => c !== null && c !== undefined));
  return el;
}

function button(label, onclick, className) {
  return h('button', { type: 'button', onclick: () => guarded(onclick), ...(className ? { class: className } : {}) }, label);
}

function logCall({ method, path, status, error }) {
  const text = error
    ? `${method} ${path} → ${error.status || 'refused'} ${error.code}: ${error.message}`
    : `${method} ${path} → ${status}`;
  $('log').prepend(h('li', { class: error ? 'error' : 'ok' }, text));
}

// Runs an action; an ApiError was logged already, anything else is shown too.
async function guarded(action) {
  try {
    await action();
  } catch (err) {
    if (!(err instanceof ApiError)) logCall({ method: '', path: '', error: new ApiError(0, 'console', err.message) });
  }
}

// Loads one section; if the call fails, the section says so instead of keeping what an earlier user saw.
async function load(id, loader) {
  try {
    await loader();
  } catch (err) {
    const text = `${err.status || 'refused'} ${err.code}: ${err.message}`;
    const el = $(id);
    const line = el.tagName === 'TBODY' ? h('tr', {}, h('td', { colspan: '4' }, text)) : h(['UL', 'OL'].includes(el.tagName) ? 'li' : 'span', {}, text);
    line.classList.add('error');
    el.replaceChildren(line);
    if (!(err instanceof ApiError)) logCall({ method: '', path: '', error: new ApiError(0, 'console', err.message) });
  }
}

function orgPath(suffix = '') {
  return `/organizations/${encodeURIComponent(state.org.id)}${suffix}`;
}

// The SDK answers from its cache, or renews the token with its refresh token first (no new sign-in). Logto rotates
// the refresh token on every renewal and treats a second use of the old one as theft, ending the sign-in
// (oidc/grants/refresh-token.ts; logto-io/js#503): two renewals at once, say the organization token and the global
// one after both expired, would race. So the console asks the SDK for one token at a time.
let tokenQueue = Promise.resolve();
function oneAtATime(get) {
  const next = tokenQueue.then(get, get);
  tokenQueue = next.catch(() => {});
  return next;
}
const globalToken = () => oneAtATime(() => logto.getAccessToken(resource));
const organizationToken = (id) => oneAtATime(() => logto.getOrganizationToken(id));

const globalCall = async (method, path, options = {}) => api(method, path, { token: await globalToken(), ...options });
const orgCall = async (method, suffix, options = {}) =>
  api(method, orgPath(suffix), { token: await organizationToken(state.org.id), ...options });

function scopeOf(token) {
  const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(atob(payload)).scope;
}

// -- sign in -----------------------------------------------------------------------------------------------------------
async function showSignedIn() {
  const claims = await logto.getIdTokenClaims();
  state.user = claims.sub;
  const scope = scopeOf(await globalToken());
  $('signed-in').textContent = `signed in as ${claims.username ?? claims.sub} (global API token, scopes: ${scope || 'none'})`;
  $('sign-in').hidden = true;
  $('sign-out').hidden = false;
  await showWorkspace();
}

async function showWorkspace() {
  $('workspace').hidden = false;
  $('organization').hidden = true;
  state.org = null;
  await Promise.all([load('org-list', loadOrganizations), load('invitation-inbox', loadInbox)]);
}

async function loadOrganizations() {
  const { data } = await globalCall('GET', '/organizations');
  $('org-list').replaceChildren(
    ...data.map((org) => h('li', {}, button(org.name, () => openOrganization(org.id)), ` ${org.id}`)),
  );
  if (!data.length) $('org-list').append(h('li', {}, 'none yet'));
}

async function createOrganization(name) {
  const { data } = await globalCall('POST', '/organizations', {
    body: { name },
    headers: { 'Idempotency-Key': crypto.randomUUID() },
  });
  await loadOrganizations();
  await openOrganization(data.id);
}

async function loadInbox() {
  const { data } = await globalCall('GET', '/invitations');
  $('invitation-inbox').replaceChildren(
    ...data.map((inv) =>
      h(
        'li',
        {},
        `${inv.organizationName ?? inv.organization?.name ?? inv.organizationId} invites you `,
        `(${(inv.organizationRoles ?? []).map((r) => r.name).join(', ') || 'no role'}) `,
        button('Accept', () => answerInvitation(inv.id, 'accept')),
        ' ',
        button('Decline', () => answerInvitation(inv.id, 'decline'), 'danger'),
      ),
    ),
  );
  if (!data.length) $('invitation-inbox').append(h('li', {}, 'no pending invitations'));
}

async function answerInvitation(id, answer) {
  await globalCall('POST', `/invitations/${encodeURIComponent(id)}/${answer}`);
  await Promise.all([load('invitation-inbox', loadInbox), load('org-list', loadOrganizations)]);
}

// -- one organization --------------------------------------------------------------------------------------------------
async function openOrganization(orgId) {
  state.org = { id: orgId };
  const scope = scopeOf(await organizationToken(orgId));
  state.page = 1;
  $('organization').hidden = false;
  $('org-id').textContent = orgId;
  $('org-scopes').textContent = scope || 'none';
  await load('org-title', loadOrganization);
  await load('roles', loadRoles); // the member rows need the role names
  await Promise.all([
    load('me', loadMe),
    load('members-body', loadMembers),
    load('org-invitations', loadInvitations),
    load('activity', () => loadActivity()),
  ]);
}

async function loadOrganization() {
  const { data } = await orgCall('GET', '');
  $('org-title').textContent = data.name;
  $('org-name').value = data.name;
}

async function loadMe() {
  const { data } = await orgCall('GET', '/members/me');
  const roles = (data.organizationRoles ?? []).map((r) => r.name).join(', ') || 'none';
  $('me').textContent = `${data.userId}: roles ${roles}; permissions now: ${(data.permissions ?? []).join(' ') || 'none'}`;
}

async function loadRoles() {
  const { data } = await orgCall('GET', '/roles');
  state.roles = data;
  $('roles').replaceChildren(
    ...data.map((role) =>
      h('li', {}, h('strong', {}, role.name), ` — ${role.description ?? ''} `, h('code', {}, permissionsOf(role).join(' ') || 'no permissions')),
    ),
  );
  const options = () => data.map((role) => h('option', { value: role.name }, role.name));
  $('invite-role').replaceChildren(...options());
  $('add-role').replaceChildren(...options());
}

function permissionsOf(role) {
  return (role.permissions ?? []).map((p) => (typeof p === 'string' ? p : p.name));
}

async function loadMembers() {
  const size = Number($('page-size').value);
  const { data, headers } = await orgCall('GET', `/members?page=${state.page}&page_size=${size}`);
  const total = Number(headers.get('Total-Number') ?? data.length);
  const pages = Math.max(1, Math.ceil(total / size));
  $('page-info').textContent = `page ${state.page} of ${pages} (Total-Number: ${total})`;
  $('prev').disabled = state.page <= 1;
  $('next').disabled = state.page >= pages;
  $('members-body').replaceChildren(...data.map(memberRow));
}

function memberRow(member) {
  const current = new Set((member.organizationRoles ?? []).map((r) => r.name));
  const boxes = state.roles.map((role) =>
    h('label', {}, h('input', { type: 'checkbox', value: role.name, ...(current.has(role.name) ? { checked: '' } : {}) }), role.name, ' '),
  );
  const roleCell = h('td', {}, ...boxes);
  const save = () => {
    const roleNames = [...roleCell.querySelectorAll('input:checked')].map((box) => box.value);
    return changeRoles(member.id, roleNames);
  };
  return h(
    'tr',
    { 'data-user': member.id },
    h('td', {}, member.name ?? member.username ?? member.id, h('br'), h('small', {}, member.id)),
    h('td', {}, member.primaryEmail ?? ''),
    roleCell,
    h('td', {}, button('Save roles', save), ' ', button('Remove', () => removeMember(member.id), 'danger')),
  );
}

async function changeRoles(userId, roleNames) {
  await orgCall('PUT', `/members/${encodeURIComponent(userId)}/roles`, { body: { roleNames } });
  await load('members-body', loadMembers);
}

async function removeMember(userId) {
  await orgCall('DELETE', `/members/${encodeURIComponent(userId)}`);
  await load('members-body', loadMembers);
}

async function loadInvitations() {
  const { data } = await orgCall('GET', '/invitations');
  $('org-invitations').replaceChildren(
    ...data.map((inv) =>
      h(
        'li',
        { 'data-invitee': inv.invitee },
        `${inv.invitee} — ${inv.status}, expires ${new Date(inv.expiresAt).toLocaleDateString()} `,
        inv.status === 'Pending' ? button('Resend e-mail', () => orgCall('POST', `/invitations/${inv.id}/message`)) : null,
        ' ',
        inv.status === 'Pending' ? button('Revoke', () => revokeInvitation(inv.id), 'danger') : null,
      ),
    ),
  );
  if (!data.length) $('org-invitations').append(h('li', {}, 'no invitations'));
}

async function revokeInvitation(id) {
  await orgCall('DELETE', `/invitations/${encodeURIComponent(id)}`);
  await load('org-invitations', loadInvitations);
}

// Who did what here: the audit trail, ids only (a change by a person shows their user id; by a machine, its app id).
async function loadActivity(cursor) {
  const query = cursor ? `?limit=10&cursor=${encodeURIComponent(cursor)}` : '?limit=10';
  const { data, headers } = await orgCall('GET', `/audit${query}`);
  const rows = data.map((entry) => {
    const who = entry.actor.userId ?? `app ${entry.actor.applicationId}`;
    const targets = Object.entries(entry.targets).map(([key, value]) => `${key}: ${[].concat(value).join(', ')}`);
    return h('li', { 'data-action': entry.action }, `${entry.time} — ${who} — `, h('strong', {}, entry.action), targets.length ? ` (${targets.join('; ')})` : '');
  });
  if (cursor) $('activity').append(...rows);
  else $('activity').replaceChildren(...rows);
  if (!cursor && !data.length) $('activity').append(h('li', {}, 'no activity'));
  const next = headers.get('Next-Cursor'); // exposed to this origin by Access-Control-Expose-Headers
  state.activityCursor = next;
  $('activity-more').hidden = !next;
}

// -- wiring ------------------------------------------------------------------------------------------------------------
function onSubmit(id, action) {
  $(id).addEventListener('submit', (event) => {
    event.preventDefault();
    guarded(action);
  });
}

async function start() {
  const config = await (await fetch('/config.json')).json();
  const link = window.location.pathname.match(/^\/invite\/([0-9A-Za-z_-]+)$/);
  if (link) {
    // INVITATION_LINK on `make local` points here: the invitee signs in and finds it under "My invitations".
    $('invite-link').hidden = false;
    $('invite-link-id').textContent = link[1];
  }
  $('api-url').textContent = config.api;
  api = createApi(config.api, logCall);
  const { endpoint, appId } = config.logto;
  resource = config.logto.resource;
  $('logto-endpoint').textContent = endpoint ?? '(none)';
  if (!endpoint || !appId) {
    $('sign-in').disabled = true;
    $('signed-in').textContent = 'LOGTO_SPA_APP_ID is not set: register a single-page app for this origin in your Logto and set it';
    document.body.dataset.ready = 'true';
    return;
  }
  if (config.standIn) {
    const info = await (await fetch('/__dev/info')).json();
    $('seeded-users').textContent = `${info.users.map((u) => u.id).join(', ')} — password: ${info.password}`;
    $('seeded').hidden = false;
  }
  logto = new LogtoClient({
    endpoint,
    appId,
    resources: [resource],
    scopes: [UserScope.Email, UserScope.Organizations, UserScope.OrganizationRoles, ...PERMISSIONS],
  });
  const origin = window.location.origin;
  $('sign-in').addEventListener('click', () =>
    guarded(() => logto.signIn({ redirectUri: `${origin}/callback`, postRedirectUri: window.location.href })),
  );
  $('sign-out').addEventListener('click', () => guarded(() => logto.signOut(`${origin}/`)));
  if (window.location.pathname === '/callback') {
    // back from the sign-in page: the SDK trades the code for tokens, then returns to postRedirectUri
    try {
      await logto.handleSignInCallback(window.location.href);
      return;
    } catch (err) {
      // e.g. a refused code (reused, expired): say so, and offer Sign in again
      logCall({ method: 'GET', path: '/callback', error: new ApiError(0, err.code ?? 'sign_in', err.message) });
      window.history.replaceState(null, '', '/');
    }
  }
  if (await logto.isAuthenticated()) await guarded(showSignedIn);
  onSubmit('create-org-form', () => createOrganization($('new-org-name').value));
  onSubmit('rename-form', async () => {
    await orgCall('PATCH', '', { body: { name: $('org-name').value } });
    await Promise.all([load('org-title', loadOrganization), load('org-list', loadOrganizations)]);
  });
  $('delete-org').addEventListener('click', () =>
    guarded(async () => {
      await orgCall('DELETE', '');
      await showWorkspace();
    }),
  );
  $('leave').addEventListener('click', () =>
    guarded(async () => {
      await orgCall('DELETE', '/members/me');
      await showWorkspace();
    }),
  );
  onSubmit('add-member-form', async () => {
    await orgCall('POST', '/members', { body: { userIds: [$('add-user-id').value.trim()], roleNames: [$('add-role').value] } });
    await load('members-body', loadMembers);
  });
  onSubmit('invite-form', async () => {
    await orgCall('POST', '/invitations', { body: { invitee: $('invitee').value.trim(), roleNames: [$('invite-role').value] } });
    await load('org-invitations', loadInvitations);
  });
  $('prev').addEventListener('click', () => { state.page -= 1; load('members-body', loadMembers); });
  $('next').addEventListener('click', () => { state.page += 1; load('members-body', loadMembers); });
  $('page-size').addEventListener('change', () => { state.page = 1; load('members-body', loadMembers); });
  $('activity-refresh').addEventListener('click', () => load('activity', () => loadActivity()));
  $('activity-more').addEventListener('click', () => guarded(() => loadActivity(state.activityCursor)));
  document.body.dataset.ready = 'true'; // the browser tests wait for this
}

start();
