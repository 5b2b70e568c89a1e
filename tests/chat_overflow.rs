//! Over-long messages under the chat layer's two policies, over real sockets, once per
//! backend: `Overflow::Close` (the default: the channel closes, see tests/chat.rs) and
//! `Overflow::Discard` (smtpd's: the rest of the message is dropped as it arrives, the
//! handler answers it in its place, and the session goes on).

mod common;

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Instant;

use ioloop::chat::{
    AsyncChat, ChatChannel, ChatConfig, ChatHandler, LengthPrefix, Overflow, Terminator,
};
use ioloop::selector::SelectorKind;
use ioloop::{Context, EventLoop};

use common::LIMIT;
use common::chat::{Rec, Record, connect, serve};
use common::event_loop::{STEP, run_steps, run_until, run_until_closed, run_until_read};
use common::kinds::per_kind;

/// Answers each message with `250 MESSAGE` and each over-long one with
/// `500 too long SIZE`, recording both in the loop's state; records errors and closes.
struct Answer;

impl ChatHandler<Rec> for Answer {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Rec>,
        message: &[u8],
    ) -> io::Result<()> {
        cx.state().messages.push(message.to_vec());
        chat.push([b"250 ", message, b"\r\n"].concat())
    }

    fn message_too_long(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Rec>,
        size: usize,
    ) -> io::Result<()> {
        cx.state()
            .messages
            .push(format!("<too long: {size}>").into_bytes());
        chat.push(format!("500 too long {size}\r\n"))
    }

    fn handle_error(&mut self, _: &mut ChatChannel, cx: &mut Context<'_, Rec>, error: io::Error) {
        cx.state().errors.push(error.kind());
        cx.close();
    }
}

fn discarding(max_message: usize) -> ChatConfig {
    ChatConfig {
        max_message,
        on_overflow: Overflow::Discard,
        ..ChatConfig::default()
    }
}

fn answer_lines(
    kind: SelectorKind,
    max_message: usize,
) -> (EventLoop<Rec>, TcpStream, std::net::SocketAddr) {
    serve(kind, move || {
        AsyncChat::with_config(Answer, b"\r\n", discarding(max_message))
    })
}

/// Writes the pieces one by one, running the loop between them so the server reads them
/// separately, then reads `expected` back.
fn send_pieces_and_expect(
    event_loop: &mut EventLoop<Rec>,
    client: &mut TcpStream,
    pieces: &[&[u8]],
    expected: &[u8],
) {
    for piece in pieces {
        if !piece.is_empty() {
            client.write_all(piece).unwrap();
            run_steps(event_loop, 1);
        }
    }
    let got = run_until_read(event_loop, client, expected.len());
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
}

fn an_over_long_line_is_answered_in_its_place_and_the_next_line_is_served(kind: SelectorKind) {
    let (mut event_loop, mut client, _) = answer_lines(kind, 1024);
    let input = [&b"a\r\n"[..], &[b'x'; 5000], b"\r\nb\r\n"].concat();
    client.write_all(&input).unwrap();
    let expected = b"250 a\r\n500 too long 5000\r\n250 b\r\n";
    let got = run_until_read(&mut event_loop, &client, expected.len());
    assert_eq!(got, expected);
    assert_eq!(event_loop.state().texts(), ["a", "<too long: 5000>", "b"]);
    assert!(event_loop.state().errors.is_empty());
    // The session goes on.
    client.write_all(b"c\r\n").unwrap();
    assert_eq!(run_until_read(&mut event_loop, &client, 7), b"250 c\r\n");
}

fn an_over_long_line_split_at_every_byte_boundary_is_discarded_alike(kind: SelectorKind) {
    let (mut event_loop, mut client, addr) = answer_lines(kind, 16);
    let input = [&b"ok\r\n"[..], &[b'x'; 20], b"\r\nnext\r\n"].concat();
    let expected = b"250 ok\r\n500 too long 20\r\n250 next\r\n";
    for at in 0..=input.len() {
        if at > 0 {
            client = connect(&mut event_loop, addr);
        }
        send_pieces_and_expect(
            &mut event_loop,
            &mut client,
            &[&input[..at], &input[at..]],
            expected,
        );
    }
    // And one byte per read.
    let mut client = connect(&mut event_loop, addr);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    send_pieces_and_expect(&mut event_loop, &mut client, &bytes, expected);
    assert!(event_loop.state().errors.is_empty());
}

fn a_crlf_split_across_reads_exactly_at_the_limit(kind: SelectorKind) {
    let (mut event_loop, mut client, _) = answer_lines(kind, 10);
    send_pieces_and_expect(
        &mut event_loop,
        &mut client,
        // At the limit with its `\r`; one over it; one far over whose `\r\n` is split.
        &[
            b"0123456789\r",
            b"\n0123456789a\r",
            b"\nxxxxxxxxxxxxxxxxxxxx\r",
            b"\nok\r\n",
        ],
        b"250 0123456789\r\n500 too long 11\r\n500 too long 20\r\n250 ok\r\n",
    );
}

fn fifty_megabytes_without_a_terminator_stay_bounded_and_the_session_goes_on(kind: SelectorKind) {
    const TOTAL: usize = 50 * 1024 * 1024;
    const MAX: usize = 64 * 1024;
    const IN_BUFFER: usize = 16 * 1024;
    let config = ChatConfig {
        in_buffer_size: IN_BUFFER,
        ..discarding(MAX)
    };
    let (mut event_loop, client, _) = serve(kind, move || {
        AsyncChat::with_config(Answer, b"\r\n", config)
    });
    let token = event_loop.state().channels[0];
    let mut writer = client.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        let block = vec![b'x'; 1024 * 1024];
        for _ in 0..TOTAL / block.len() {
            writer.write_all(&block).unwrap();
        }
        writer.write_all(b"\r\nafter\r\n").unwrap();
    });
    // The channel's input never exceeds the limit plus one read (and a partial terminator).
    let bound = MAX + IN_BUFFER + 1;
    let mut most = 0;
    let deadline = Instant::now() + 6 * LIMIT;
    while event_loop.state().messages.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "not done: {:?}",
            event_loop.state()
        );
        event_loop.run_once(Some(STEP)).unwrap();
        let chat = event_loop.get_mut::<AsyncChat<Answer>>(token).unwrap();
        most = most.max(chat.channel().buffered_input());
        assert!(most <= bound, "{most} bytes of input held, bound {bound}");
    }
    flood.join().unwrap();
    assert!(most > 0, "the input was never observed");
    let reply = format!("500 too long {TOTAL}\r\n250 after\r\n");
    let got = run_until_read(&mut event_loop, &client, reply.len());
    assert_eq!(String::from_utf8_lossy(&got), reply);
    assert!(event_loop.state().errors.is_empty());
}

fn a_length_prefixed_frame_over_the_limit_is_skipped_and_the_next_served(kind: SelectorKind) {
    // SMPP's layout: a 4-byte length counting the whole PDU, header kept.
    let smpp = Terminator::length_prefixed(LengthPrefix::new(4).adjustment(-4)).unwrap();
    let (mut event_loop, mut client, _) = serve(kind, move || {
        AsyncChat::with_config(Answer, smpp.clone(), discarding(64))
    });
    let pdu = |body: &[u8]| [&((body.len() + 4) as u32).to_be_bytes()[..], body].concat();
    let input = [pdu(b"one"), pdu(&[b'z'; 100_000]), pdu(b"two")].concat();
    let chunks: Vec<&[u8]> = input.chunks(7_001).collect();
    send_pieces_and_expect(
        &mut event_loop,
        &mut client,
        &chunks,
        b"250 \0\0\0\x07one\r\n500 too long 100004\r\n250 \0\0\0\x07two\r\n",
    );
    assert!(event_loop.state().errors.is_empty());
}

fn without_message_too_long_an_over_long_message_closes_once_it_has_ended(kind: SelectorKind) {
    let (mut event_loop, mut client, _) = serve(kind, || {
        AsyncChat::with_config(Record, b"\n", discarding(100))
    });
    client.write_all(b"first\n").unwrap();
    client.write_all(&[b'x'; 1000]).unwrap();
    run_until(&mut event_loop, |rec| rec.messages.len() == 1, LIMIT);
    run_steps(&mut event_loop, 3);
    assert!(
        event_loop.state().errors.is_empty(),
        "closed before its end"
    );
    client.write_all(b"\nnever\n").unwrap();
    let _ = run_until_closed(&mut event_loop, &client);
    assert_eq!(event_loop.state().errors, [io::ErrorKind::InvalidData]);
    assert_eq!(event_loop.state().texts(), ["first"]);
}

fn with_no_terminator_an_over_long_message_is_an_error_under_either_policy(kind: SelectorKind) {
    let (mut event_loop, mut client, _) = serve(kind, || {
        AsyncChat::with_config(Answer, Terminator::None, discarding(100))
    });
    let _ = client.write_all(&[b'x'; 1000]);
    let _ = run_until_closed(&mut event_loop, &client);
    assert_eq!(event_loop.state().errors, [io::ErrorKind::InvalidData]);
}

/// smtpd's switching: commands end in `\r\n` and are at most 64 bytes; after `DATA` the mail
/// ends in `\r\n.\r\n` and is at most 2000 bytes. Both are changed in the callbacks, and
/// apply to the input already read after the message that changed them.
struct Smtp {
    in_data: bool,
}

impl Smtp {
    fn back_to_commands(&mut self, chat: &mut ChatChannel) {
        self.in_data = false;
        chat.set_terminator(b"\r\n");
        chat.set_max_message(64);
    }
}

impl ChatHandler<Rec> for Smtp {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Rec>,
        message: &[u8],
    ) -> io::Result<()> {
        cx.state().messages.push(message.to_vec());
        if self.in_data {
            self.back_to_commands(chat);
            chat.push(format!("250 mail of {}\r\n", message.len()))
        } else if message == b"DATA" {
            self.in_data = true;
            chat.set_terminator(b"\r\n.\r\n");
            chat.set_max_message(2000);
            chat.push("354\r\n")
        } else if message == b"QUIT" {
            chat.push("221\r\n")?;
            chat.close_when_done();
            Ok(())
        } else {
            chat.push("250\r\n")
        }
    }

    fn message_too_long(
        &mut self,
        chat: &mut ChatChannel,
        _: &mut Context<'_, Rec>,
        _: usize,
    ) -> io::Result<()> {
        if self.in_data {
            self.back_to_commands(chat);
            chat.push("552\r\n")
        } else {
            chat.push("500\r\n")
        }
    }

    fn handle_error(&mut self, _: &mut ChatChannel, cx: &mut Context<'_, Rec>, error: io::Error) {
        cx.state().errors.push(error.kind());
        cx.close();
    }
}

fn pipelined_commands_switch_terminator_and_limit_per_message(kind: SelectorKind) {
    let (mut event_loop, mut client, _) = serve(kind, || {
        AsyncChat::with_config(Smtp { in_data: false }, b"\r\n", discarding(64))
    });
    let mail = b"line one\r\nline two\r\n".repeat(50); // 1000 bytes: over 64, under 2000
    let input = [
        &b"HELO\r\nDATA\r\n"[..],
        &mail,
        b"\r\n.\r\n",
        &[b'c'; 100], // an over-long command
        b"\r\nDATA\r\n",
        &[b'm'; 3000], // an over-long mail
        b"\r\n.\r\nNOOP\r\nQUIT\r\n",
    ]
    .concat();
    client.write_all(&input).unwrap(); // all of it at once: pipelined
    client.shutdown(Shutdown::Write).unwrap();
    let got = run_until_closed(&mut event_loop, &client);
    assert_eq!(
        String::from_utf8_lossy(&got),
        "250\r\n354\r\n250 mail of 1000\r\n500\r\n354\r\n552\r\n250\r\n221\r\n"
    );
    assert!(event_loop.state().errors.is_empty());
}

per_kind! {
    an_over_long_line_is_answered_in_its_place_and_the_next_line_is_served,
    an_over_long_line_split_at_every_byte_boundary_is_discarded_alike,
    a_crlf_split_across_reads_exactly_at_the_limit,
    fifty_megabytes_without_a_terminator_stay_bounded_and_the_session_goes_on,
    a_length_prefixed_frame_over_the_limit_is_skipped_and_the_next_served,
    without_message_too_long_an_over_long_message_closes_once_it_has_ended,
    with_no_terminator_an_over_long_message_is_an_error_under_either_policy,
    pipelined_commands_switch_terminator_and_limit_per_message,
}
