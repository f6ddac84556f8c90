//! One session's messages over a QUIC connection: a control stream for
//! each message's head and a stream per document, taking turns until both
//! sides are done. Typed messages in and out; encoded and decoded here once.

use std::time::Duration;

use quinn::{Connection, RecvStream, SendStream, VarInt};

use super::{CLOSE_DONE, CLOSE_ERROR, SharedNode, wire, with_node};
use crate::error::{Error, Result};
use crate::node::Session;
use crate::sync::Message;

pub(super) fn describe(e: &quinn::ConnectionError) -> String {
    // A refused key shows as a certificate error, or — when the peer sends
    // no reason — as the TLS alert alone (42 bad_certificate, 46
    // certificate_unknown, 48 unknown_ca, 116 certificate_required).
    let refused = |text: &str| {
        text.contains("certificate")
            || text.contains("Certificate")
            || ["error 42", "error 46", "error 48", "error 116"]
                .iter()
                .any(|code| text.ends_with(code) || text.contains(&format!("{code}:")))
    };
    let alpn = |text: &str| {
        text.contains("error 120")
            || text.contains("no_application_protocol")
            || text.contains("known protocol")
    };
    match e {
        quinn::ConnectionError::ApplicationClosed(c) => {
            let reason = String::from_utf8_lossy(&c.reason).into_owned();
            if reason.is_empty() {
                "the peer closed the connection".into()
            } else {
                format!("the peer ended the session: {reason}")
            }
        }
        quinn::ConnectionError::TimedOut => "no answer (timed out)".into(),
        // Raised here: this device's verifier refused the peer's key.
        quinn::ConnectionError::TransportError(t) if refused(&t.to_string()) => {
            "refused at the handshake: the peer's key is not the expected device, or not a current member of a space this device holds".into()
        }
        quinn::ConnectionError::TransportError(t) if alpn(&t.to_string()) => {
            "the peer speaks an incompatible protocol version (ALPN anpi/1.1 and anpi/1 refused)".into()
        }
        // Sent by the peer: it refused this device's key.
        quinn::ConnectionError::ConnectionClosed(c) if refused(&c.to_string()) => {
            "refused at the handshake: the peer does not accept this device (an admin adds it with `anpi device add`; a revoked device stays refused)".into()
        }
        quinn::ConnectionError::ConnectionClosed(c) if alpn(&c.to_string()) => {
            "the peer speaks an incompatible protocol version (ALPN anpi/1.1 and anpi/1 refused)".into()
        }
        other => other.to_string(),
    }
}

fn write_error(e: quinn::WriteError) -> Error {
    match e {
        quinn::WriteError::ConnectionLost(e) => Error::network(describe(&e)),
        other => Error::network(format!("send failed: {other}")),
    }
}

/// How changes are packed on this connection (the protocol its handshake
/// agreed on).
pub(super) fn packing(conn: &Connection) -> crate::sync::Packing {
    let protocol = conn
        .handshake_data()
        .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|d| d.protocol);
    super::tls::packing(protocol.as_deref())
}

/// Send one sync message: its control frame on the session's stream, then
/// each document on a stream of its own, in order (incident documents
/// first). The peer accepts the document streams as it reads them, so
/// QUIC's stream limit paces a message of many documents.
pub(super) async fn send_message(
    conn: &Connection,
    control: &mut SendStream,
    msg: &Message,
) -> Result<()> {
    let (head, docs) = wire::split_message(msg, packing(conn))?;
    control.write_all(&head).await.map_err(write_error)?;
    for frame in docs {
        let mut stream = conn
            .open_uni()
            .await
            .map_err(|e| Error::network(describe(&e)))?;
        stream.write_all(&frame).await.map_err(write_error)?;
        let _ = stream.finish();
    }
    Ok(())
}

/// The next sync message put back together from its control frame and
/// its document streams, or `None` once the peer finished its side.
async fn receive_message(conn: &Connection, control: &mut RecvStream) -> Result<Option<Message>> {
    let Some(frame) = read_frame(control).await? else {
        return Ok(None);
    };
    let (count, head) = wire::decode_control(&frame)?;
    let mut docs = Vec::with_capacity(count);
    let mut bytes = frame.len();
    for _ in 0..count {
        let mut stream = conn
            .accept_uni()
            .await
            .map_err(|e| Error::network(describe(&e)))?;
        let frame = read_frame(&mut stream)
            .await?
            .ok_or_else(|| Error::network("the peer sent an empty document stream"))?;
        bytes += frame.len();
        if bytes > crate::sync::MAX_MESSAGE_BYTES {
            return Err(Error::network(format!(
                "the peer's documents passed the message limit of {} bytes",
                crate::sync::MAX_MESSAGE_BYTES
            )));
        }
        docs.push(wire::decode_entry(&frame, packing(conn))?);
    }
    wire::join_message(head, docs, bytes).map(Some)
}

/// The next message, or `None` once the peer finished its side.
async fn read_frame(recv: &mut RecvStream) -> Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match recv.read_exact(&mut len).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(quinn::ReadExactError::FinishedEarly(_)) => {
            return Err(Error::network("the peer sent a truncated message"));
        }
        Err(quinn::ReadExactError::ReadError(quinn::ReadError::ConnectionLost(
            quinn::ConnectionError::ApplicationClosed(c),
        ))) if c.error_code == VarInt::from_u32(CLOSE_DONE) => return Ok(None),
        Err(quinn::ReadExactError::ReadError(quinn::ReadError::ConnectionLost(e))) => {
            return Err(Error::network(describe(&e)));
        }
        Err(quinn::ReadExactError::ReadError(e)) => {
            return Err(Error::network(format!("receive failed: {e}")));
        }
    }
    let len = wire::frame_len(len)?;
    let mut buf = vec![0u8; len];
    recv.read_exact(&mut buf).await.map_err(|e| match e {
        quinn::ReadExactError::ReadError(quinn::ReadError::ConnectionLost(e)) => {
            Error::network(describe(&e))
        }
        _ => Error::network("the peer sent a truncated message"),
    })?;
    Ok(Some(buf))
}

pub(super) fn finish<T>(conn: &Connection, result: &Result<T>) {
    match result {
        Ok(_) => conn.close(VarInt::from_u32(CLOSE_DONE), b"done"),
        Err(e) => {
            let mut reason = e.to_string();
            reason.truncate(400);
            conn.close(VarInt::from_u32(CLOSE_ERROR), reason.as_bytes());
        }
    }
}

/// Take turns until both sides have finished: apply each message, answer
/// it or finish our side when there is nothing to say.
pub(super) async fn converse(
    node: &SharedNode,
    conn: &Connection,
    mut session: Session,
    send: &mut SendStream,
    recv: &mut RecvStream,
) -> Result<(Session, usize)> {
    let mut finished = false;
    let mut answered = 0;
    loop {
        match receive_message(conn, recv).await? {
            None => {
                if !finished {
                    let _ = send.finish();
                }
                // Let the peer read our end before the connection closes:
                // a close discards whatever is still in flight.
                let _ = tokio::time::timeout(Duration::from_secs(5), send.stopped()).await;
                return Ok((session, answered));
            }
            Some(msg) => {
                if finished {
                    return Err(Error::network("the peer spoke after the session ended"));
                }
                answered += 1;
                let (s, reply) = with_node(node, move |n| {
                    let reply = n.sync_receive(&mut session, msg);
                    Ok((session, reply))
                })
                .await?;
                session = s;
                match reply? {
                    Some(r) => send_message(conn, send, &r).await?,
                    None => {
                        let _ = send.finish();
                        finished = true;
                    }
                }
            }
        }
    }
}
