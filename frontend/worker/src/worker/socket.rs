//! A WebSocket as an async stream of events, fed by the socket's callbacks.
use futures_channel::mpsc::{TryRecvError, UnboundedReceiver, UnboundedSender, unbounded};
use futures_util::StreamExt;
use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use ferry_worker::{Failure, FailureCode};

/// Something the socket did.
pub enum Event {
    /// A JSON control message.
    Text(String),
    /// A binary frame: one sealed chunk.
    Binary(Uint8Array),
    /// The socket closed (or failed to open).
    Closed,
}

enum Raw {
    Open,
    Event(Event),
}

/// An open WebSocket; dropping it closes the socket.
pub struct Socket {
    ws: WebSocket,
    rx: UnboundedReceiver<Raw>,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    /// Opens `path` on the page's own origin (ws:// or wss:// as the page is http or https).
    pub async fn open(path: &str) -> Result<Socket, Failure> {
        let location = super::scope().location();
        let scheme = if location.protocol() == "https:" {
            "wss"
        } else {
            "ws"
        };
        let url = format!("{scheme}://{}{path}", location.host());
        let ws = WebSocket::new(&url).map_err(|_| {
            Failure::new(
                FailureCode::Network,
                "could not open a connection to the server",
            )
        })?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let (tx, rx) = unbounded::<Raw>();
        let on_open = {
            let tx = tx.clone();
            Closure::<dyn FnMut()>::new(move || {
                let _ = tx.unbounded_send(Raw::Open);
            })
        };
        let on_message = {
            let tx: UnboundedSender<Raw> = tx.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                let data = ev.data();
                let event = if let Some(text) = data.as_string() {
                    Event::Text(text)
                } else if let Ok(buf) = data.dyn_into::<ArrayBuffer>() {
                    Event::Binary(Uint8Array::new(&buf))
                } else {
                    return;
                };
                let _ = tx.unbounded_send(Raw::Event(event));
            })
        };
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_: CloseEvent| {
            let _ = tx.unbounded_send(Raw::Event(Event::Closed));
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let mut socket = Socket {
            ws,
            rx,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        };
        match socket.rx.next().await {
            Some(Raw::Open) => Ok(socket),
            _ => Err(Failure::new(
                FailureCode::Network,
                "could not connect to the server; check your connection and try again",
            )),
        }
    }

    /// The next event; `Closed` forever once the socket is gone.
    pub async fn next(&mut self) -> Event {
        loop {
            match self.rx.next().await {
                Some(Raw::Event(e)) => return e,
                Some(Raw::Open) => continue,
                None => return Event::Closed,
            }
        }
    }

    /// The next event if one is already waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        loop {
            match self.rx.try_recv() {
                Ok(Raw::Event(e)) => return Some(e),
                Ok(Raw::Open) => continue,
                Err(TryRecvError::Closed) => return Some(Event::Closed),
                Err(TryRecvError::Empty) => return None,
            }
        }
    }

    /// Sends a control message (JSON from the client core) as a text frame.
    pub fn send_text(&self, text: &str) -> Result<(), Failure> {
        self.ws.send_with_str(text).map_err(|_| lost())
    }

    /// Sends one sealed chunk as a binary frame.
    pub fn send_chunk(&self, chunk: &Uint8Array) -> Result<(), Failure> {
        self.ws
            .send_with_array_buffer_view(chunk)
            .map_err(|_| lost())
    }
}

/// The failure for a connection that broke mid-transfer.
pub fn lost() -> Failure {
    Failure::lost()
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}
