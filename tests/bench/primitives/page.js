// Hands the chosen file to the primitives worker and collects its log lines.
window.__logs = [];
window.__done = false;
document.getElementById('f').addEventListener('change', (e) => {
  const w = new Worker('/bench-primitives-worker.js');
  w.onmessage = (m) => {
    if (m.data.log) window.__logs.push(m.data.log);
    if (m.data.done) window.__done = true;
  };
  w.postMessage({ file: e.target.files[0], which: 'read,sock,full' });
});
