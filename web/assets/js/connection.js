// The WebSocket to /ws. Whenever it drops it is opened again after a back-off that doubles up to
// 10 s, with jitter so a restarted server is not hit by every browser at once.

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;

export class Connection {
  /** `onOpen()` after every (re)connect, `onFrame(frame)` per message, `onStatus(text, live)`. */
  constructor({ onOpen, onFrame, onStatus }) {
    Object.assign(this, { onOpen, onFrame, onStatus });
    this.delay = FIRST_DELAY_MS;
    this.open();
  }

  open() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/ws`);
    this.socket = socket;
    socket.onopen = () => {
      this.delay = FIRST_DELAY_MS;
      this.onStatus('live', true);
      this.onOpen();
    };
    socket.onmessage = (event) => this.onFrame(JSON.parse(event.data));
    socket.onclose = () => {
      const wait = Math.round(this.delay * (0.5 + Math.random() / 2));
      this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
      this.onStatus(`reconnecting in ${Math.ceil(wait / 1000)} s…`, false);
      setTimeout(() => this.open(), wait);
    };
  }

  /** Sends a frame if the socket is open; false if it is not. */
  send(frame) {
    if (this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }
}
