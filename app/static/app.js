// The guestbook: reads and signs through the app's JSON API.
const list = document.getElementById('messages');
const form = document.getElementById('message-form');

function show(messages) {
  list.replaceChildren(
    ...messages.map((m) => {
      const item = document.createElement('li');
      item.textContent = m.text;
      return item;
    }),
  );
}

async function refresh() {
  const response = await fetch('/api/messages');
  if (response.ok) show((await response.json()).messages);
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = new FormData(form).get('text');
  const response = await fetch('/api/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  if (response.ok) {
    form.reset();
    await refresh();
  }
});

refresh();
