//! `smtpd.SMTPChannel`: one SMTP session, its commands and its replies.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::rc::Rc;

use ioloop::Context;
use ioloop::chat::{ChatChannel, ChatHandler};

use super::address;
use super::delivery::{Message, Sink};
use super::py;

/// smtpd's `__version__`, the greeting's last words.
pub const VERSION: &str = "Python SMTP proxy version 0.3";
/// `command_size_limit`: the longest command line.
pub const COMMAND_SIZE_LIMIT: usize = 512;
/// What `EHLO` adds to the `MAIL` line limit for `SIZE=` (when there is a data limit)...
const SIZE_PARAM_ROOM: usize = 26;
/// ... and for `SMTPUTF8` (when it is enabled).
const SMTPUTF8_PARAM_ROOM: usize = 10;

/// What every session of a server shares.
pub struct Settings {
    /// `socket.getfqdn()` in smtpd: the name in the greeting and the HELO/EHLO replies.
    pub fqdn: String,
    /// The largest message, in bytes as received (dot-stuffed, `\r\n` line ends).
    pub data_size_limit: usize,
    pub enable_smtputf8: bool,
    pub sink: Rc<RefCell<Sink>>,
    /// STARTTLS (RFC 3207) with this configuration (`--tls-cert`/`--tls-key`); without it
    /// the extension is not advertised and `STARTTLS` is answered `454`.
    pub tls: Option<crate::common::TlsConfig>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Command,
    Data,
}

/// The message being received after `DATA`. It arrives line by line: a line `.` ends it.
#[derive(Default)]
struct Incoming {
    /// The message so far, dot-unstuffed, lines joined by `\n`.
    data: Vec<u8>,
    /// Its size as received: the lines, and the `\r\n` between them.
    size: usize,
    lines: usize,
    /// Over the data limit: the rest is dropped, and the end of data answers 552.
    too_much: bool,
}

/// One SMTP session.
pub struct SmtpChannel {
    settings: Rc<Settings>,
    /// The client's IP address.
    peer: String,
    state: State,
    seen_greeting: String,
    extended_smtp: bool,
    mailfrom: Option<String>,
    rcpttos: Vec<String>,
    require_smtputf8: bool,
    mail_options: Vec<String>,
    rcpt_options: Vec<String>,
    /// `command_size_limits['MAIL']`, this session's own (see the example's docs on
    /// smtpd's shared one).
    mail_size_limit: usize,
    incoming: Incoming,
    /// The session runs TLS (or turns TLS once its `220 Ready to start TLS` is sent).
    tls_active: bool,
}

/// The session must end as smtpd's did when one of its handlers raised: the replies queued
/// so far go out, the connection closes, nothing more is read.
struct Abort(&'static str);

type Outcome = Result<(), Abort>;

impl SmtpChannel {
    pub fn new(settings: Rc<Settings>, peer: String) -> SmtpChannel {
        SmtpChannel {
            settings,
            peer,
            state: State::Command,
            seen_greeting: String::new(),
            extended_smtp: false,
            mailfrom: None,
            rcpttos: Vec::new(),
            require_smtputf8: false,
            mail_options: Vec::new(),
            rcpt_options: Vec::new(),
            mail_size_limit: COMMAND_SIZE_LIMIT,
            incoming: Incoming::default(),
            tls_active: false,
        }
    }

    /// smtpd's `push`: the reply and `\r\n`, encoded as ASCII unless the transaction asked
    /// for SMTPUTF8 (a reply Python could not encode raised, which closed the session).
    fn push(&self, chat: &mut ChatChannel, reply: &str) -> Outcome {
        if !self.require_smtputf8 && !reply.is_ascii() {
            return Err(Abort(
                "a reply that is not ASCII outside an SMTPUTF8 transaction",
            ));
        }
        chat.push(format!("{reply}\r\n"))
            .map_err(|_| Abort("the reply could not be queued"))
    }

    /// `_set_post_data_state`.
    fn set_post_data_state(&mut self, chat: &mut ChatChannel) {
        self.state = State::Command;
        self.mailfrom = None;
        self.rcpttos.clear();
        self.require_smtputf8 = false;
        self.incoming = Incoming::default();
        chat.set_max_message(self.max_command_size_limit());
    }

    /// `_set_rset_state` (the greeting is kept).
    fn set_rset_state(&mut self, chat: &mut ChatChannel) {
        self.set_post_data_state(chat);
    }

    /// `max_command_size_limit`: the longest line any command may have, what the chat
    /// channel buffers at most in the command state.
    fn max_command_size_limit(&self) -> usize {
        self.mail_size_limit.max(COMMAND_SIZE_LIMIT)
    }

    fn command(&mut self, chat: &mut ChatChannel, line: &[u8]) -> Outcome {
        if line.is_empty() {
            return self.push(chat, "500 Error: bad syntax");
        }
        let line =
            std::str::from_utf8(line).map_err(|_| Abort("a command line that is not UTF-8"))?;
        let (command, arg) = match line.find(' ') {
            None => (line.to_uppercase(), None),
            Some(i) => (line[..i].to_uppercase(), Some(py::strip(&line[i + 1..]))),
        };
        let max_size = if self.extended_smtp && command == "MAIL" {
            self.mail_size_limit
        } else {
            COMMAND_SIZE_LIMIT
        };
        if line.len() > max_size {
            return self.push(chat, "500 Error: line too long");
        }
        match command.as_str() {
            "HELO" => self.helo(chat, arg),
            "EHLO" => self.ehlo(chat, arg),
            "NOOP" => self.noop(chat, arg),
            "QUIT" => self.quit(chat),
            "HELP" => self.help(chat, arg),
            "VRFY" => self.vrfy(chat, arg),
            "MAIL" => self.mail(chat, arg),
            "RCPT" => self.rcpt(chat, arg),
            "RSET" => self.rset(chat, arg),
            "DATA" => self.data(chat, arg),
            "EXPN" => self.push(chat, "502 EXPN not implemented"),
            "STARTTLS" => self.starttls(chat, arg),
            _ => self.push(
                chat,
                &format!("500 Error: command \"{command}\" not recognized"),
            ),
        }
    }

    fn helo(&mut self, chat: &mut ChatChannel, arg: Option<&str>) -> Outcome {
        let Some(arg) = arg.filter(|arg| !arg.is_empty()) else {
            return self.push(chat, "501 Syntax: HELO hostname");
        };
        if !self.seen_greeting.is_empty() {
            return self.push(chat, "503 Duplicate HELO/EHLO");
        }
        self.set_rset_state(chat);
        self.seen_greeting = arg.to_string();
        self.push(chat, &format!("250 {}", self.settings.fqdn))
    }

    fn ehlo(&mut self, chat: &mut ChatChannel, arg: Option<&str>) -> Outcome {
        let Some(arg) = arg.filter(|arg| !arg.is_empty()) else {
            return self.push(chat, "501 Syntax: EHLO hostname");
        };
        if !self.seen_greeting.is_empty() {
            return self.push(chat, "503 Duplicate HELO/EHLO");
        }
        self.set_rset_state(chat);
        self.seen_greeting = arg.to_string();
        self.extended_smtp = true;
        self.push(chat, &format!("250-{}", self.settings.fqdn))?;
        self.push(chat, &format!("250-SIZE {}", self.settings.data_size_limit))?;
        self.mail_size_limit += SIZE_PARAM_ROOM;
        self.push(chat, "250-8BITMIME")?;
        if self.settings.enable_smtputf8 {
            self.push(chat, "250-SMTPUTF8")?;
            self.mail_size_limit += SMTPUTF8_PARAM_ROOM;
        }
        if self.settings.tls.is_some() && !self.tls_active {
            // RFC 3207 §4.2: not offered again once TLS is on.
            self.push(chat, "250-STARTTLS")?;
        }
        chat.set_max_message(self.max_command_size_limit());
        self.push(chat, "250 HELP")
    }

    /// `STARTTLS` (RFC 3207, an extension smtpd lacked): `220`, then the session turns TLS
    /// and starts over, as if just connected but for the greeting.
    fn starttls(&mut self, chat: &mut ChatChannel, arg: Option<&str>) -> Outcome {
        if arg.is_some_and(|arg| !arg.is_empty()) {
            return self.push(chat, "501 Syntax error (no parameters allowed)");
        }
        let Some(config) = self.settings.tls.clone() else {
            return self.push(chat, "454 TLS not available due to temporary reason");
        };
        if self.tls_active {
            return self.push(chat, "503 Error: TLS already active");
        }
        self.push(chat, "220 Ready to start TLS")?;
        // The chat layer sends the 220 in clear text, drops the commands the client
        // pipelined after STARTTLS (CVE-2011-0411: they must not run inside the TLS
        // session), then switches.
        crate::common::start_tls(chat, &config)
            .map_err(|_| Abort("the switch to TLS could not be made"))?;
        self.tls_active = true;
        // RFC 3207 §4.2: the server forgets what the client told it before, the EHLO
        // argument and the transaction included; the client must EHLO again.
        self.seen_greeting.clear();
        self.extended_smtp = false;
        self.mail_size_limit = COMMAND_SIZE_LIMIT;
        self.mail_options.clear();
        self.rcpt_options.clear();
        self.set_rset_state(chat);
        Ok(())
    }

    fn noop(&mut self, chat: &mut ChatChannel, arg: Option<&str>) -> Outcome {
        if arg.is_some_and(|arg| !arg.is_empty()) {
            self.push(chat, "501 Syntax: NOOP")
        } else {
            self.push(chat, "250 OK")
        }
    }

    fn quit(&mut self, chat: &mut ChatChannel) -> Outcome {
        // The argument is ignored.
        self.push(chat, "221 Bye")?;
        chat.close_when_done();
        Ok(())
    }

    fn help(&mut self, chat: &mut ChatChannel, arg: Option<&str>) -> Outcome {
        let Some(arg) = arg.filter(|arg| !arg.is_empty()) else {
            return self.push(
                chat,
                "250 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY",
            );
        };
        let extended = if self.extended_smtp {
            " [SP <mail-parameters>]"
        } else {
            ""
        };
        let reply = match arg.to_uppercase().as_str() {
            "EHLO" => "250 Syntax: EHLO hostname".to_string(),
            "HELO" => "250 Syntax: HELO hostname".to_string(),
            "MAIL" => format!("250 Syntax: MAIL FROM: <address>{extended}"),
            "RCPT" => format!("250 Syntax: RCPT TO: <address>{extended}"),
            "DATA" => "250 Syntax: DATA".to_string(),
            "RSET" => "250 Syntax: RSET".to_string(),
            "NOOP" => "250 Syntax: NOOP".to_string(),
            "QUIT" => "250 Syntax: QUIT".to_string(),
            "VRFY" => "250 Syntax: VRFY <address>".to_string(),
            _ => "501 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY".to_string(),
        };
        self.push(chat, &reply)
    }

    fn vrfy(&mut self, chat: &mut ChatChannel, arg: Option<&str>) -> Outcome {
        let Some(arg) = arg.filter(|arg| !arg.is_empty()) else {
            return self.push(chat, "501 Syntax: VRFY <address>");
        };
        let (address, _) = get_addr(arg)?;
        if address.is_empty() {
            self.push(chat, &format!("502 Could not VRFY {arg}"))
        } else {
            self.push(
                chat,
                "252 Cannot VRFY user, but will accept message and attempt delivery",
            )
        }
    }

    fn syntax_error(&self, command: &str) -> String {
        let mut reply = format!("501 Syntax: {command}: <address>");
        if self.extended_smtp {
            reply.push_str(" [SP <mail-parameters>]");
        }
        reply
    }

    fn mail(&mut self, chat: &mut ChatChannel, arg: Option<&str>) -> Outcome {
        if self.seen_greeting.is_empty() {
            return self.push(chat, "503 Error: send HELO first");
        }
        let syntax_error = self.syntax_error("MAIL FROM");
        let Some(arg) = arg else {
            return self.push(chat, &syntax_error);
        };
        let (address, params) = get_addr(strip_command_keyword("FROM:", arg))?;
        if address.is_empty() || (!self.extended_smtp && !params.is_empty()) {
            return self.push(chat, &syntax_error);
        }
        if self
            .mailfrom
            .as_deref()
            .is_some_and(|from| !from.is_empty())
        {
            return self.push(chat, "503 Error: nested MAIL command");
        }
        self.mail_options = py::split(&params.to_uppercase())
            .into_iter()
            .map(String::from)
            .collect();
        let Some(mut params) = get_params(&self.mail_options) else {
            return self.push(chat, &syntax_error);
        };
        match params.remove("BODY") {
            None => {}
            Some(Param::Value(body)) if body == "7BIT" || body == "8BITMIME" => {}
            Some(_) => return self.push(chat, "501 Error: BODY can only be one of 7BIT, 8BITMIME"),
        }
        if self.settings.enable_smtputf8 {
            match params.remove("SMTPUTF8") {
                None => {}
                Some(Param::Flag) => self.require_smtputf8 = true,
                Some(Param::Value(_)) => {
                    return self.push(chat, "501 Error: SMTPUTF8 takes no arguments");
                }
            }
        }
        match params.remove("SIZE") {
            None => {}
            // Python called `True.isdigit()`: an AttributeError.
            Some(Param::Flag) => return Err(Abort("a SIZE parameter without a value")),
            Some(Param::Value(size)) => {
                if !size.bytes().all(|b| b.is_ascii_digit()) {
                    return self.push(chat, &syntax_error);
                }
                if exceeds(&size, self.settings.data_size_limit) {
                    return self.push(
                        chat,
                        "552 Error: message size exceeds fixed maximum message size",
                    );
                }
            }
        }
        if !params.is_empty() {
            return self.push(
                chat,
                "555 MAIL FROM parameters not recognized or not implemented",
            );
        }
        self.mailfrom = Some(address);
        self.push(chat, "250 OK")
    }

    fn rcpt(&mut self, chat: &mut ChatChannel, arg: Option<&str>) -> Outcome {
        if self.seen_greeting.is_empty() {
            return self.push(chat, "503 Error: send HELO first");
        }
        if self.mailfrom.as_deref().is_none_or(str::is_empty) {
            return self.push(chat, "503 Error: need MAIL command");
        }
        let syntax_error = self.syntax_error("RCPT TO");
        let Some(arg) = arg else {
            return self.push(chat, &syntax_error);
        };
        let (address, params) = get_addr(strip_command_keyword("TO:", arg))?;
        if address.is_empty() || (!self.extended_smtp && !params.is_empty()) {
            return self.push(chat, &syntax_error);
        }
        self.rcpt_options = py::split(&params.to_uppercase())
            .into_iter()
            .map(String::from)
            .collect();
        let Some(params) = get_params(&self.rcpt_options) else {
            return self.push(chat, &syntax_error);
        };
        if !params.is_empty() {
            return self.push(
                chat,
                "555 RCPT TO parameters not recognized or not implemented",
            );
        }
        self.rcpttos.push(address);
        self.push(chat, "250 OK")
    }

    fn rset(&mut self, chat: &mut ChatChannel, arg: Option<&str>) -> Outcome {
        if arg.is_some_and(|arg| !arg.is_empty()) {
            return self.push(chat, "501 Syntax: RSET");
        }
        self.set_rset_state(chat);
        self.push(chat, "250 OK")
    }

    fn data(&mut self, chat: &mut ChatChannel, arg: Option<&str>) -> Outcome {
        if self.seen_greeting.is_empty() {
            return self.push(chat, "503 Error: send HELO first");
        }
        if self.rcpttos.is_empty() {
            return self.push(chat, "503 Error: need RCPT command");
        }
        if arg.is_some_and(|arg| !arg.is_empty()) {
            return self.push(chat, "501 Syntax: DATA");
        }
        self.state = State::Data;
        self.incoming = Incoming::default();
        // The terminator stays `\r\n`: the data arrives as lines (see the example's docs on
        // why not smtpd's `\r\n.\r\n`), each within what is left of the data limit.
        chat.set_max_message(self.line_budget());
        self.push(chat, "354 End data with <CR><LF>.<CR><LF>")
    }

    /// The longest next data line that keeps the message within the limit (at least 1, so
    /// the `.` that ends it always arrives as a line).
    fn line_budget(&self) -> usize {
        let incoming = &self.incoming;
        if incoming.too_much {
            return 1;
        }
        let separator = if incoming.lines > 0 { 2 } else { 0 };
        self.settings
            .data_size_limit
            .saturating_sub(incoming.size + separator)
            .max(1)
    }

    fn data_line(&mut self, chat: &mut ChatChannel, line: &[u8]) -> Outcome {
        if line == b"." {
            return self.end_of_data(chat);
        }
        let incoming = &mut self.incoming;
        if !incoming.too_much {
            let separator = if incoming.lines > 0 { 2 } else { 0 };
            incoming.size += separator + line.len();
            if incoming.size > self.settings.data_size_limit {
                self.too_much_data(chat);
                return Ok(());
            }
            if incoming.lines > 0 {
                incoming.data.push(b'\n');
            }
            // Transparency (RFC 5321 §4.5.2): a leading dot was doubled by the client.
            let line = line.strip_prefix(b".").unwrap_or(line);
            incoming.data.extend_from_slice(line);
            incoming.lines += 1;
        }
        chat.set_max_message(self.line_budget());
        Ok(())
    }

    /// The data went past the limit: it is dropped from here to its end.
    fn too_much_data(&mut self, chat: &mut ChatChannel) {
        self.incoming.too_much = true;
        self.incoming.data = Vec::new();
        chat.set_max_message(1);
    }

    fn end_of_data(&mut self, chat: &mut ChatChannel) -> Outcome {
        if self.incoming.too_much {
            // smtpd stayed in the data state here (see the example's docs).
            self.set_post_data_state(chat);
            return self.push(chat, "552 Error: Too much mail data");
        }
        let status = self.settings.sink.borrow_mut().deliver(&Message {
            peer: &self.peer,
            mailfrom: self.mailfrom.as_deref().unwrap_or_default(),
            rcpttos: &self.rcpttos,
            data: &self.incoming.data,
            mail_options: &self.mail_options,
            rcpt_options: &self.rcpt_options,
        });
        self.set_post_data_state(chat);
        self.push(chat, status.as_deref().unwrap_or("250 OK"))
    }

    fn finish(&self, chat: &mut ChatChannel, outcome: Outcome) -> io::Result<()> {
        if let Err(Abort(why)) = outcome {
            // smtpd's handler raised; asyncore logged it and closed the channel.
            log::warn!("{}: closing the session: {why}", self.peer);
            chat.close_when_done();
        }
        Ok(())
    }
}

impl ChatHandler for SmtpChannel {
    fn handle_opened(
        &mut self,
        chat: &mut ChatChannel,
        _cx: &mut Context<'_, ()>,
    ) -> io::Result<()> {
        let greeting = format!("220 {} {VERSION}", self.settings.fqdn);
        let outcome = self.push(chat, &greeting);
        self.finish(chat, outcome)
    }

    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        _cx: &mut Context<'_, ()>,
        line: &[u8],
    ) -> io::Result<()> {
        let outcome = match self.state {
            State::Command => self.command(chat, line),
            State::Data => self.data_line(chat, line),
        };
        self.finish(chat, outcome)
    }

    fn message_too_long(
        &mut self,
        chat: &mut ChatChannel,
        _cx: &mut Context<'_, ()>,
        _size: usize,
    ) -> io::Result<()> {
        let outcome = match self.state {
            // Longer than any command may be.
            State::Command => self.push(chat, "500 Error: line too long"),
            State::Data => {
                self.too_much_data(chat);
                Ok(())
            }
        };
        self.finish(chat, outcome)
    }
}

/// `_strip_command_keyword`: the argument after `FROM:`/`TO:` (any case), else nothing.
fn strip_command_keyword<'a>(keyword: &str, arg: &'a str) -> &'a str {
    match arg.char_indices().nth(keyword.chars().count()) {
        Some((end, _)) if arg[..end].to_uppercase() == keyword => py::strip(&arg[end..]),
        None if arg.to_uppercase() == keyword => "",
        _ => "",
    }
}

/// `_getaddr`: the address and the rest of the argument. A parse failure raised in Python.
fn get_addr(arg: &str) -> Result<(String, &str), Abort> {
    if arg.is_empty() {
        return Ok((String::new(), ""));
    }
    let parsed = if arg.trim_start_matches(py::is_space).starts_with('<') {
        address::get_angle_addr(arg)
    } else {
        address::get_addr_spec(arg)
    };
    parsed.map_err(|address::ParseError| Abort("an address the parser could not read"))
}

/// A `MAIL`/`RCPT` parameter: `NAME=VALUE` or a bare `NAME`.
enum Param {
    Flag,
    Value(String),
}

/// `_getparams`: `None` if a parameter is not `NAME[=VALUE]` with an alphanumeric name and a
/// value after any `=`. A repeated name keeps its last value.
fn get_params(options: &[String]) -> Option<HashMap<String, Param>> {
    let mut params = HashMap::new();
    for option in options {
        let (name, value) = match option.split_once('=') {
            Some((_, "")) => return None,
            Some((name, value)) => (name, Param::Value(value.to_string())),
            None => (option.as_str(), Param::Flag),
        };
        if !py::is_alnum(name) {
            return None;
        }
        params.insert(name.to_string(), value);
    }
    Some(params)
}

/// Whether the decimal `size` is over `limit` (any length of digits).
fn exceeds(size: &str, limit: usize) -> bool {
    let digits = size.trim_start_matches('0');
    digits.len() > 20
        || digits
            .parse::<u128>()
            .is_ok_and(|size| size > limit as u128)
}
