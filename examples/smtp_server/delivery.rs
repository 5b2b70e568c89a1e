//! What happens to a received message: smtpd's `process_message`. Either printed as
//! `smtpd.DebuggingServer` prints it, or written to a Maildir.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::py;

/// A message as the channel hands it over (smtpd's `process_message` arguments).
pub struct Message<'a> {
    /// The client's IP address (`peer[0]`).
    pub peer: &'a str,
    pub mailfrom: &'a str,
    pub rcpttos: &'a [String],
    /// The data, dot-unstuffed, its lines joined by `\n` (no `\n` after the last).
    pub data: &'a [u8],
    pub mail_options: &'a [String],
    pub rcpt_options: &'a [String],
}

/// Where messages go.
pub enum Sink {
    /// `DebuggingServer`: printed to stdout.
    Print,
    /// One file per message in this Maildir.
    Maildir(Maildir),
}

impl Sink {
    /// Delivers `message`: `None` for `250 OK`, else the reply to send instead (smtpd's
    /// `process_message` return value).
    pub fn deliver(&mut self, message: &Message<'_>) -> Option<String> {
        let delivered = match self {
            Sink::Print => print_message(message),
            Sink::Maildir(maildir) => maildir.store(message),
        };
        match delivered {
            Ok(()) => None,
            Err(e) => {
                log::error!("cannot deliver a message from {}: {e}", message.peer);
                Some("451 Requested action aborted: local error in processing".to_string())
            }
        }
    }
}

/// `DebuggingServer.process_message`, line for line: the options as Python lists, then each
/// line of the message as a Python bytes literal, with an `X-Peer` line where the headers
/// end (where the first empty line is).
fn print_message(message: &Message<'_>) -> io::Result<()> {
    let mut out = String::new();
    out.push_str("---------- MESSAGE FOLLOWS ----------\n");
    if !message.mail_options.is_empty() {
        out.push_str(&format!(
            "mail options: {}\n",
            py::repr_str_list(message.mail_options)
        ));
    }
    if !message.rcpt_options.is_empty() {
        out.push_str(&format!(
            "rcpt options: {}\n\n",
            py::repr_str_list(message.rcpt_options)
        ));
    }
    let mut in_headers = true;
    for line in py::split_lines(message.data) {
        if in_headers && line.is_empty() {
            let peer = format!("X-Peer: {}", message.peer);
            out.push_str(&py::repr_bytes(peer.as_bytes()));
            out.push('\n');
            in_headers = false;
        }
        out.push_str(&py::repr_bytes(line));
        out.push('\n');
    }
    out.push_str("------------ END MESSAGE ------------\n");
    let mut stdout = io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()
}

/// A Maildir (`tmp/`, `new/`, `cur/`): each message is written to `tmp/`, flushed to disk,
/// then renamed into `new/`, so a reader never sees part of one.
pub struct Maildir {
    root: PathBuf,
    host: String,
    delivered: u64,
}

impl Maildir {
    /// Opens `root`, creating it and its three directories if they are missing.
    pub fn open(root: &Path, host: &str) -> io::Result<Maildir> {
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir_all(root.join(sub))?;
        }
        // A Maildir name must not hold `/` or `:`.
        let host = host.replace(['/', ':'], "_");
        Ok(Maildir {
            root: root.to_path_buf(),
            host,
            delivered: 0,
        })
    }

    /// Writes one message: the envelope as `X-Peer`, `X-MailFrom` and `X-RcptTo` header
    /// lines first, then the data as received (`\n` line ends) and a final `\n`.
    fn store(&mut self, message: &Message<'_>) -> io::Result<()> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.delivered += 1;
        let name = format!(
            "{}.M{}P{}Q{}.{}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            self.delivered,
            self.host
        );
        let tmp = self.root.join("tmp").join(&name);
        let envelope = format!(
            "X-Peer: {}\nX-MailFrom: {}\nX-RcptTo: {}\n",
            message.peer,
            message.mailfrom,
            message.rcpttos.join(", ")
        );
        let written = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(envelope.as_bytes())?;
            file.write_all(message.data)?;
            file.write_all(b"\n")?;
            file.sync_all()
        })();
        if let Err(e) = written.and_then(|()| fs::rename(&tmp, self.root.join("new").join(&name))) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(())
    }
}
