/** Server-rendered pages. Assets are addressed by release so a page never mixes two releases. */

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function homePage(info: { server: string; release: string }): string {
  const server = escapeHtml(info.server);
  const release = escapeHtml(info.release);
  const asset = (file: string): string => `/static/${release}/${file}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>www.foobar.com</title>
<link rel="stylesheet" href="${asset('app.css')}">
<link rel="icon" href="${asset('logo.svg')}" type="image/svg+xml">
</head>
<body>
<header>
<img src="${asset('logo.svg')}" alt="foobar logo" width="48" height="48">
<h1>www.foobar.com</h1>
</header>
<main>
<p class="served">Served by <strong id="server">${server}</strong>, release <code id="release">${release}</code>.</p>
<section id="guestbook">
<h2>Guestbook</h2>
<form id="message-form">
<input name="text" maxlength="500" required placeholder="Say hello" aria-label="Message">
<button type="submit">Sign</button>
</form>
<ul id="messages"></ul>
</section>
</main>
<script src="${asset('app.js')}" defer></script>
</body>
</html>
`;
}
