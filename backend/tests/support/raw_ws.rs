//! A WebSocket client by hand, for attacks a well-behaved library will not make: the
//! handshake written out, frame headers declaring any length, server frames read raw.
//! Used by the hostile-client tests and by `examples/hostile_load.rs`.
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Server payloads up to this size are returned; larger ones are read and dropped.
const KEPT_PAYLOAD: u64 = 1 << 16;

/// Sends the upgrade request for `path` and reads the response head byte by byte (so no
/// frame after it is consumed). Returns the head; a refusal is an error naming its status
/// line.
pub async fn upgrade(tcp: &mut TcpStream, port: u16, path: &str) -> std::io::Result<String> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 {
            return Err(std::io::Error::other("response head too long"));
        }
        head.push(tcp.read_u8().await?);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    if !head.starts_with("HTTP/1.1 101") {
        let status = head.lines().next().unwrap_or("").to_owned();
        return Err(std::io::Error::other(format!("refused: {status}")));
    }
    Ok(head)
}

/// A client frame header declaring `len` payload bytes, masked with a zero key (so the
/// payload goes as is).
pub fn frame_header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(&[0; 4]);
    out
}

/// Reads one server frame: its opcode and payload (empty if over 64 KiB: chunks are
/// skipped, not kept).
pub async fn read_frame(tcp: &mut (impl AsyncRead + Unpin)) -> std::io::Result<(u8, Vec<u8>)> {
    let first = tcp.read_u8().await?;
    let len = match tcp.read_u8().await? & 0x7F {
        126 => u64::from(tcp.read_u16().await?),
        127 => tcp.read_u64().await?,
        n => u64::from(n),
    };
    let mut payload = Vec::new();
    let mut limited = (&mut *tcp).take(len);
    if len <= KEPT_PAYLOAD {
        limited.read_to_end(&mut payload).await?;
    } else {
        tokio::io::copy(&mut limited, &mut tokio::io::sink()).await?;
    }
    Ok((first & 0x0F, payload))
}
