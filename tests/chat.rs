//! The chat layer (Python's `asynchat`) over real sockets, once per backend: the behaviours
//! of Python's test_asynchat, plus the limits and guarantees the port adds.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ioloop::Context;
use ioloop::chat::{
    AsyncChat, ChatChannel, ChatConfig, ChatHandler, LengthPrefix, SimpleProducer, Terminator,
};

use ioloop::selector::SelectorKind;

use common::chat::{Rec, Record, connect, serve};
use common::event_loop::{run_steps, run_until, run_until_closed, run_until_loop, run_until_read};
use common::kinds::per_kind;
use common::{LIMIT, pattern};

fn recorder(terminator: Terminator) -> impl FnMut() -> AsyncChat<Record> + 'static {
    move || AsyncChat::new(Record, terminator.clone())
}

/// Sends `data` in chunks of `chunk` bytes, running the loop between them so the server
/// sees separate reads.
fn send_chunked(
    event_loop: &mut ioloop::EventLoop<Rec>,
    client: &mut std::net::TcpStream,
    data: &[u8],
    chunk: usize,
) {
    for piece in data.chunks(chunk) {
        client.write_all(piece).unwrap();
        run_steps(event_loop, 1);
    }
}

fn line_terminators_of_one_two_and_three_bytes_split_across_reads_of_one_two_and_three(
    kind: SelectorKind,
) {
    for terminator in [&b"\n"[..], b"\r\n", b"qqq"] {
        for chunk in 1..=3 {
            let (mut event_loop, mut client, _) =
                serve(kind, recorder(Terminator::bytes(terminator)));
            let mut data = b"hello world".to_vec();
            data.extend_from_slice(terminator);
            data.extend_from_slice(b"I'm not dead yet!");
            data.extend_from_slice(terminator);
            send_chunked(&mut event_loop, &mut client, &data, chunk);
            run_until(&mut event_loop, |rec| rec.messages.len() == 2, LIMIT);
            assert_eq!(
                event_loop.state().texts(),
                ["hello world", "I'm not dead yet!"],
                "terminator {terminator:?}, chunks of {chunk}"
            );
        }
    }
}

fn a_numeric_terminator_delivers_its_count_then_stays_spent(kind: SelectorKind) {
    let (mut event_loop, mut client, _) = serve(kind, recorder(Terminator::count(5).unwrap()));
    send_chunked(
        &mut event_loop,
        &mut client,
        b"hello world, I'm not dead yet!\n",
        3,
    );
    run_until(&mut event_loop, |rec| !rec.messages.is_empty(), LIMIT);
    run_steps(&mut event_loop, 20);
    assert_eq!(
        event_loop.state().texts(),
        ["hello"],
        "a spent count delivers nothing more"
    );
}

/// Streams everything through `collect_incoming_data` into `collected`, which the test
/// holds too.
struct Stream {
    collected: Rc<RefCell<Vec<u8>>>,
}

impl ChatHandler<Rec> for Stream {
    fn found_terminator(
        &mut self,
        _: &mut ChatChannel,
        cx: &mut Context<'_, Rec>,
        message: &[u8],
    ) -> io::Result<()> {
        cx.state().messages.push(message.to_vec());
        Ok(())
    }

    fn collect_incoming_data(&mut self, data: &[u8], _message: &mut Vec<u8>) {
        self.collected.borrow_mut().extend_from_slice(data);
    }
}

fn the_none_terminator_collects_everything_and_delivers_nothing(kind: SelectorKind) {
    let collected = Rc::new(RefCell::new(Vec::new()));
    let for_server = collected.clone();
    let (mut event_loop, mut client, _) = serve(kind, move || {
        let stream = Stream {
            collected: for_server.clone(),
        };
        AsyncChat::new(stream, Terminator::None)
    });
    let data = b"hello world\nI'm not dead yet!\n";
    send_chunked(&mut event_loop, &mut client, data, 7);
    run_steps(&mut event_loop, 5);
    let deadline = Instant::now() + LIMIT;
    while collected.borrow().len() < data.len() {
        assert!(Instant::now() < deadline);
        run_steps(&mut event_loop, 1);
    }
    assert_eq!(collected.borrow().as_slice(), data);
    assert!(event_loop.state().messages.is_empty());
}

/// Pushes its output at once: what `make` returns is queued before the channel is spawned.
struct Silent;

impl ChatHandler<Rec> for Silent {
    fn found_terminator(
        &mut self,
        _: &mut ChatChannel,
        _: &mut Context<'_, Rec>,
        _: &[u8],
    ) -> io::Result<()> {
        Ok(())
    }
}

fn a_simple_producer_and_a_closure_producer_arrive_exactly(kind: SelectorKind) {
    let data = pattern(10_000, 1);
    let expected = {
        let mut all = data.clone();
        all.extend_from_slice(b"--");
        all.extend_from_slice(&data);
        all
    };
    let for_server = data.clone();
    let (mut event_loop, client, _) = serve(kind, move || {
        let mut chat = AsyncChat::new(Silent, b"\n");
        chat.channel()
            .push_with_producer(SimpleProducer::new(for_server.clone(), 8))
            .unwrap();
        chat.push(&b"--"[..]).unwrap();
        let mut pieces: Vec<Vec<u8>> = for_server.chunks(999).map(<[u8]>::to_vec).collect();
        pieces.reverse();
        chat.channel()
            .push_with_producer(move || pieces.pop())
            .unwrap();
        chat
    });
    let got = run_until_read(&mut event_loop, &client, expected.len());
    assert!(got == expected, "the produced bytes differ");
}

fn a_large_push_arrives_intact(kind: SelectorKind) {
    let data = pattern(4 * 1024 * 1024, 1);
    let for_server = data.clone();
    let (mut event_loop, client, _) = serve(kind, move || {
        let mut chat = AsyncChat::new(Silent, b"\n");
        chat.push(for_server.clone()).unwrap();
        chat
    });
    let got = run_until_read(&mut event_loop, &client, data.len());
    assert!(got == data, "4 MiB pushed, different bytes received");
}

fn consecutive_terminators_deliver_empty_messages(kind: SelectorKind) {
    let (mut event_loop, mut client, _) = serve(kind, recorder(Terminator::bytes(b"\n")));
    client
        .write_all(b"hello world\n\nI'm not dead yet!\n")
        .unwrap();
    run_until(&mut event_loop, |rec| rec.messages.len() == 3, LIMIT);
    assert_eq!(
        event_loop.state().texts(),
        ["hello world", "", "I'm not dead yet!"]
    );
}

/// The message buffer is lent to `found_terminator` and reused within a read: a short
/// message after a long one, and a length-prefixed frame after a line, carry nothing over.
fn messages_of_one_read_each_arrive_alone_in_the_reused_buffer(kind: SelectorKind) {
    let (mut event_loop, mut client, _) = serve(kind, recorder(Terminator::bytes(b"\n")));
    let long = "x".repeat(5000);
    let mut data = Vec::new();
    for text in [long.as_str(), "ab", "", "c", long.as_str(), "d"] {
        data.extend_from_slice(text.as_bytes());
        data.push(b'\n');
    }
    client.write_all(&data).unwrap();
    run_until(&mut event_loop, |rec| rec.messages.len() == 6, LIMIT);
    assert_eq!(
        event_loop.state().texts(),
        [long.as_str(), "ab", "", "c", long.as_str(), "d"]
    );
}

fn close_when_done_sends_everything_then_closes_and_refuses_later_pushes(kind: SelectorKind) {
    let (mut event_loop, client, _) = serve(kind, || {
        let mut chat = AsyncChat::new(Silent, b"\n");
        chat.push(pattern(100_000, 1)).unwrap();
        chat.channel().close_when_done();
        let refused = chat.push(&b"too late"[..]).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::NotConnected);
        chat
    });
    let got = run_until_closed(&mut event_loop, &client);
    assert!(got == pattern(100_000, 1), "got {} bytes", got.len());
    run_until(&mut event_loop, |_| true, LIMIT);
    assert_eq!(event_loop.len(), 1, "only the listener is left");
}

/// What [`queue_a_mix`] pushes, in order: small borrowed lines (gathered into shared
/// buffers), large owned buffers and shared ones, then `close_when_done`.
fn a_mix_of_pushes() -> Vec<u8> {
    let mut expected = Vec::new();
    for i in 0..3000u32 {
        expected.extend_from_slice(format!("line {i}\n").as_bytes());
        if i % 500 == 0 {
            expected.extend_from_slice(&pattern(20_000 + i as usize, 3));
        }
        if i % 7 == 0 {
            expected.extend_from_slice(b"shared\n");
        }
        if i % 11 == 0 {
            expected.extend_from_slice(b"local\n");
        }
    }
    expected
}

fn queue_a_mix(chat: &mut ChatChannel, shared: &Arc<[u8]>, local: &Rc<[u8]>) {
    for i in 0..3000u32 {
        chat.push(format!("line {i}\n").as_str()).unwrap();
        if i % 500 == 0 {
            chat.push(pattern(20_000 + i as usize, 3)).unwrap();
        }
        if i % 7 == 0 {
            chat.push(shared).unwrap();
        }
        if i % 11 == 0 {
            chat.push(local).unwrap();
        }
    }
    chat.close_when_done();
}

/// Thousands of pushes of every kind go out gathered, and a peer that reads a little at a
/// time (so the socket takes only part of a gathered send, ending inside a buffer) gets
/// every byte in order, then the close.
fn many_pushes_arrive_in_order_through_a_peer_that_reads_slowly(kind: SelectorKind) {
    let shared: Arc<[u8]> = Arc::from(&b"shared\n"[..]);
    let local: Rc<[u8]> = Rc::from(&b"local\n"[..]);
    let (mut event_loop, mut client, _) = serve(kind, move || {
        let mut chat = AsyncChat::new(Silent, b"\n");
        queue_a_mix(chat.channel(), &shared, &local);
        chat
    });
    let expected = a_mix_of_pushes();
    let mut got = Vec::new();
    let mut buf = [0u8; 1500];
    let deadline = Instant::now() + LIMIT;
    loop {
        assert!(Instant::now() < deadline, "got {} bytes", got.len());
        run_steps(&mut event_loop, 1);
        use std::io::Read;
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read: {e}"),
        }
    }
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "the bytes differ");
    run_until(&mut event_loop, |_| true, LIMIT);
    assert_eq!(event_loop.len(), 1, "only the listener is left");
}

/// One `Arc<[u8]>` and one `Rc<[u8]>` pushed to several channels are queued by reference in
/// each (no copy) and arrive at every peer.
fn a_shared_buffer_pushed_to_several_channels_arrives_at_each(kind: SelectorKind) {
    let line: Arc<[u8]> = Arc::from(pattern(50_000, 9).into_boxed_slice());
    let local: Rc<[u8]> = Rc::from(pattern(300, 5).into_boxed_slice());
    let (mut event_loop, first, addr) = serve(kind, || AsyncChat::new(Silent, b"\n"));
    let mut clients = vec![first];
    for _ in 0..3 {
        clients.push(connect(&mut event_loop, addr));
    }
    let tokens = event_loop.state().channels.clone();
    for &token in &tokens {
        let chat = event_loop.get_mut::<AsyncChat<Silent>>(token).unwrap();
        chat.push(&line).unwrap();
        chat.push(&local).unwrap();
        chat.push(Arc::clone(&line)).unwrap();
        chat.push(Rc::clone(&local)).unwrap();
    }
    assert_eq!(
        Arc::strong_count(&line),
        1 + 2 * tokens.len(),
        "queued by reference"
    );
    assert_eq!(Rc::strong_count(&local), 1 + 2 * tokens.len());
    let mut expected = Vec::new();
    for _ in 0..2 {
        expected.extend_from_slice(&line);
        expected.extend_from_slice(&local);
    }
    for client in &clients {
        let got = run_until_read(&mut event_loop, client, expected.len());
        assert!(got == expected, "the bytes differ");
    }
    assert_eq!(Arc::strong_count(&line), 1, "released once sent");
    assert_eq!(Rc::strong_count(&local), 1);
}

/// A producer between pushes keeps its place: the small pushes after it are not gathered
/// into a buffer queued before it.
fn a_producer_between_pushes_keeps_its_place(kind: SelectorKind) {
    let (mut event_loop, client, _) = serve(kind, || {
        let mut chat = AsyncChat::new(Silent, b"\n");
        chat.push("before,").unwrap();
        let mut pieces = vec![b"three".to_vec(), b"two,".to_vec(), b"one,".to_vec()];
        chat.channel()
            .push_with_producer(move || pieces.pop())
            .unwrap();
        chat.push(",after").unwrap();
        chat.push(b",".to_vec()).unwrap();
        chat.push("end").unwrap();
        chat
    });
    let got = run_until_read(&mut event_loop, &client, 30);
    assert_eq!(
        String::from_utf8_lossy(&got),
        "before,one,two,three,after,end"
    );
}

fn push_takes_byte_slices_vectors_arrays_and_text(kind: SelectorKind) {
    // `push` takes `impl Into<Outgoing>`: an integer (Python's `push(10)`) does not compile.
    let (mut event_loop, client, _) = serve(kind, || {
        let mut chat = AsyncChat::new(Silent, b"\n");
        chat.push(&b"slice,"[..]).unwrap();
        chat.push(b"vec,".to_vec()).unwrap();
        chat.push(b"array,").unwrap();
        chat.push("str,").unwrap();
        chat.push(String::from("string")).unwrap();
        chat
    });
    let got = run_until_read(&mut event_loop, &client, 26);
    assert_eq!(got, b"slice,vec,array,str,string");
}

fn a_spurious_wake_up_neither_closes_nor_reaches_handle_error(kind: SelectorKind) {
    let (mut event_loop, mut client, _) = serve(kind, recorder(Terminator::bytes(b"\n")));
    let token = event_loop.state().channels[0];
    // Mark the channel for a read with nothing to read: as a spurious event would.
    for _ in 0..5 {
        event_loop
            .handle()
            .call_soon_threadsafe(move |cx| cx.refresh(token))
            .unwrap();
        run_steps(&mut event_loop, 1);
    }
    client.write_all(b"still here\n").unwrap();
    run_until(&mut event_loop, |rec| rec.messages.len() == 1, LIMIT);
    assert!(event_loop.state().errors.is_empty());
    assert_eq!(event_loop.len(), 2);
}

/// Reads a header, then a body whose length the header gives (an HTTP-like protocol).
struct HeadThenBody;

impl ChatHandler<Rec> for HeadThenBody {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Rec>,
        message: &[u8],
    ) -> io::Result<()> {
        if message.starts_with(b"HEAD") {
            chat.set_terminator(Terminator::count(8)?);
        } else {
            chat.set_terminator(b"\r\n\r\n");
        }
        cx.state().messages.push(message.to_vec());
        Ok(())
    }
}

fn set_terminator_in_found_terminator_applies_to_bytes_already_read(kind: SelectorKind) {
    let (mut event_loop, mut client, _) = serve(kind, || AsyncChat::new(HeadThenBody, b"\r\n\r\n"));
    client
        .write_all(b"HEAD\r\n\r\nBODYBODYHEAD\r\n\r\n12345678")
        .unwrap();
    run_until(&mut event_loop, |rec| rec.messages.len() == 4, LIMIT);
    assert_eq!(
        event_loop.state().texts(),
        ["HEAD", "BODYBODY", "HEAD", "12345678"]
    );
}

/// Closes on the first message.
struct CloseOnFirst;

impl ChatHandler<Rec> for CloseOnFirst {
    fn found_terminator(
        &mut self,
        _: &mut ChatChannel,
        cx: &mut Context<'_, Rec>,
        message: &[u8],
    ) -> io::Result<()> {
        cx.state().messages.push(message.to_vec());
        cx.close();
        Ok(())
    }
}

fn no_message_is_delivered_after_close(kind: SelectorKind) {
    let (mut event_loop, mut client, _) = serve(kind, || AsyncChat::new(CloseOnFirst, b"\n"));
    client.write_all(b"a\nb\nc\n").unwrap();
    let _ = run_until_closed(&mut event_loop, &client);
    run_steps(&mut event_loop, 5);
    assert_eq!(
        event_loop.state().texts(),
        ["a"],
        "asynchat delivered all three"
    );
}

fn an_over_long_message_is_invalid_data_and_closes_only_that_channel(kind: SelectorKind) {
    let config = ChatConfig {
        max_message: 1024,
        ..ChatConfig::default()
    };
    let (mut event_loop, mut flood, addr) =
        serve(kind, move || AsyncChat::with_config(Record, b"\n", config));
    let mut good = connect(&mut event_loop, addr);
    let _ = flood.write_all(&vec![b'x'; 5000]);
    let _ = run_until_closed(&mut event_loop, &flood);
    assert_eq!(event_loop.state().errors, [io::ErrorKind::InvalidData]);
    good.write_all(b"fine\n").unwrap();
    run_until(&mut event_loop, |rec| rec.messages.len() == 1, LIMIT);
    assert_eq!(event_loop.state().texts(), ["fine"]);
}

/// Answers every line with 100 lines.
struct Loud;

impl ChatHandler<Rec> for Loud {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Rec>,
        _: &[u8],
    ) -> io::Result<()> {
        cx.state().messages.push(Vec::new());
        chat.push(b"echo-x\n".repeat(100))
    }
}

fn a_peer_that_does_not_read_stops_the_channel_reading_and_memory_stays_bounded(
    kind: SelectorKind,
) {
    const LINES: usize = 10_000;
    const HIGH_WATER: usize = 64 * 1024;
    const IN_BUFFER: usize = 4096;
    let config = ChatConfig {
        high_water: HIGH_WATER,
        in_buffer_size: IN_BUFFER,
        ..ChatConfig::default()
    };
    let (mut event_loop, mut client, _) =
        serve(kind, move || AsyncChat::with_config(Loud, b"\n", config));
    let token = event_loop.state().channels[0];
    client.write_all(&b"x\n".repeat(LINES)).unwrap();
    run_steps(&mut event_loop, 100);
    let queued = event_loop
        .get_mut::<AsyncChat<Loud>>(token)
        .unwrap()
        .channel()
        .queued();
    // One read of at most IN_BUFFER bytes (IN_BUFFER / 2 lines) past the mark, at most.
    let bound = HIGH_WATER + IN_BUFFER / 2 * 700;
    assert!(queued <= bound, "{queued} bytes queued, bound {bound}");
    let answered = event_loop.state().messages.len();
    assert!(
        answered < LINES,
        "it kept reading: all {answered} lines answered"
    );
    // Now the peer reads: everything arrives, in order.
    let got = run_until_read(&mut event_loop, &client, LINES * 700);
    assert!(got.chunks(7).all(|line| line == b"echo-x\n"));
    assert_eq!(event_loop.state().messages.len(), LINES);
}

fn discard_buffers_keeps_a_pending_close(kind: SelectorKind) {
    let (mut event_loop, client, _) = serve(kind, || {
        let mut chat = AsyncChat::new(Silent, b"\n");
        chat.push(&b"never sent"[..]).unwrap();
        chat.channel().close_when_done();
        chat.channel().discard_buffers();
        chat
    });
    let got = run_until_closed(&mut event_loop, &client);
    assert!(got.is_empty(), "discarded output was sent: {got:?}");
}

fn length_prefixed_frames_split_anywhere_are_delivered_whole(kind: SelectorKind) {
    let terminator = Terminator::length_prefixed(LengthPrefix::new(2).keep_header(false)).unwrap();
    let (mut event_loop, mut client, _) = serve(kind, recorder(terminator));
    let mut stream = Vec::new();
    for body in [&b"first"[..], b"", b"the third frame"] {
        stream.extend_from_slice(&(body.len() as u16).to_be_bytes());
        stream.extend_from_slice(body);
    }
    send_chunked(&mut event_loop, &mut client, &stream, 3);
    run_until(&mut event_loop, |rec| rec.messages.len() == 3, LIMIT);
    assert_eq!(event_loop.state().texts(), ["first", "", "the third frame"]);
}

// ---------------------------------------------------------------------------------------
// Clients, timers and the end of a connection.

/// A chat client: logs `handle_connect` as a message `<connect>`, then every message (as
/// [`Record`] does).
struct Client;

impl ChatHandler<Rec> for Client {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Rec>,
        message: &[u8],
    ) -> io::Result<()> {
        Record.found_terminator(chat, cx, message)
    }

    fn handle_connect(&mut self, _: &mut ChatChannel, cx: &mut Context<'_, Rec>) -> io::Result<()> {
        cx.state().messages.push(b"<connect>".to_vec());
        Ok(())
    }
}

/// asynchat's client side: `writable()` is true while connecting (C10), so a push queued
/// before the connection is up is sent once it is, and the replies are framed.
fn a_chat_client_sends_what_it_queued_before_connecting_and_frames_the_replies(kind: SelectorKind) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut peer, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(LIMIT)).unwrap();
        let mut request = [0u8; 6];
        io::Read::read_exact(&mut peer, &mut request).unwrap();
        peer.write_all(b"one\r\ntwo\r\n").unwrap();
        request
    });
    let mut event_loop = ioloop::EventLoop::with_kind(kind, Rec::default()).unwrap();
    let mut chat = AsyncChat::new(Client, b"\r\n");
    chat.push(&b"hello\n"[..]).unwrap();
    event_loop.connect(addr, chat).unwrap();
    run_until(&mut event_loop, |rec| rec.messages.len() == 3, LIMIT);
    assert_eq!(&server.join().unwrap(), b"hello\n");
    assert_eq!(event_loop.state().texts(), ["<connect>", "one", "two"]);
}

/// Closes a session when its timer fires: the idle timeout of SMPP-style servers.
struct Timeout;

impl ChatHandler<Rec> for Timeout {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Rec>,
        message: &[u8],
    ) -> io::Result<()> {
        chat.push(message.to_vec())?;
        chat.push(&b"\n"[..])?;
        cx.call_later(std::time::Duration::from_millis(30));
        Ok(())
    }

    fn handle_timer(
        &mut self,
        chat: &mut ChatChannel,
        _: &mut Context<'_, Rec>,
        _: ioloop::TimerId,
    ) -> io::Result<()> {
        chat.push(&b"idle: bye\n"[..])?;
        chat.close_when_done();
        Ok(())
    }
}

fn a_chat_timer_can_push_a_last_word_and_close_the_session(kind: SelectorKind) {
    let (mut event_loop, mut client, _) = serve(kind, || AsyncChat::new(Timeout, b"\n"));
    client.write_all(b"ping\n").unwrap();
    let got = run_until_closed(&mut event_loop, &client);
    assert_eq!(String::from_utf8_lossy(&got), "ping\nidle: bye\n");
    assert_eq!(event_loop.len(), 1, "only the listener is left");
}

/// asynchat dropped an unterminated tail at end of file (C5-h); so does the port, without
/// an error, and the channel closes.
fn an_unterminated_tail_at_end_of_file_is_dropped_and_the_channel_closes(kind: SelectorKind) {
    let (mut event_loop, mut client, _) = serve(kind, recorder(Terminator::bytes(b"\n")));
    client.write_all(b"whole\npart").unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let deadline = Instant::now() + LIMIT;
    while event_loop.len() > 1 {
        assert!(Instant::now() < deadline, "the channel stays open");
        run_steps(&mut event_loop, 1);
    }
    assert_eq!(event_loop.state().texts(), ["whole"]);
    assert!(event_loop.state().errors.is_empty());
}

/// Answers every message with `REPLY` bytes.
struct BigReply;

const REPLY: usize = 2 * 1024 * 1024;

impl ChatHandler<Rec> for BigReply {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        _: &mut Context<'_, Rec>,
        _: &[u8],
    ) -> io::Result<()> {
        chat.push(pattern(REPLY, 1))
    }
}

/// A peer that sends its request and shuts down its side still gets the whole answer: the
/// default `handle_close` sends what is queued, then closes.
fn a_peer_that_half_closes_gets_the_whole_answer_before_the_close(kind: SelectorKind) {
    let (mut event_loop, mut client, _) = serve(kind, || AsyncChat::new(BigReply, b"\n"));
    client.write_all(b"go\n").unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let got = run_until_closed(&mut event_loop, &client);
    assert!(
        got == pattern(REPLY, 1),
        "got {} of {REPLY} bytes",
        got.len()
    );
    assert_eq!(event_loop.len(), 1, "only the listener is left");
}

// ---------------------------------------------------------------------------------------
// Opening, and producers with nothing yet.

/// Pushes a greeting when the channel opens.
struct Greets;

impl ChatHandler<Rec> for Greets {
    fn found_terminator(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Rec>,
        message: &[u8],
    ) -> io::Result<()> {
        Record.found_terminator(chat, cx, message)
    }

    fn handle_opened(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Rec>,
    ) -> io::Result<()> {
        cx.state().messages.push(b"<opened>".to_vec());
        chat.push(&b"220 hello\r\n"[..])
    }
}

fn a_greeting_pushed_in_handle_opened_reaches_the_client_before_it_sends_anything(
    kind: SelectorKind,
) {
    let (mut event_loop, mut client, addr) = serve(kind, || AsyncChat::new(Greets, b"\n"));
    assert_eq!(
        run_until_read(&mut event_loop, &client, 11),
        b"220 hello\r\n"
    );
    let second = connect(&mut event_loop, addr);
    assert_eq!(
        run_until_read(&mut event_loop, &second, 11),
        b"220 hello\r\n"
    );
    client.write_all(b"after\n").unwrap();
    run_until(&mut event_loop, |rec| rec.messages.len() == 3, LIMIT);
    run_steps(&mut event_loop, 3);
    assert_eq!(
        event_loop.state().texts(),
        ["<opened>", "<opened>", "after"]
    );
}

/// A producer that has nothing until the test puts pieces in `ready`; counts how often it
/// is asked, and gives up (None) after `MAX_ASKS` so that a loop asking it without pause
/// cannot hang the test.
#[derive(Clone, Default)]
struct Feed {
    ready: Rc<RefCell<Vec<Vec<u8>>>>,
    asked: Rc<Cell<usize>>,
}

const MAX_ASKS: usize = 1000;

impl Feed {
    fn producer(&self) -> impl FnMut() -> Option<Vec<u8>> + 'static {
        let feed = self.clone();
        move || {
            feed.asked.set(feed.asked.get() + 1);
            if feed.asked.get() > MAX_ASKS {
                return None;
            }
            let mut ready = feed.ready.borrow_mut();
            if ready.is_empty() {
                Some(Vec::new()) // not now
            } else {
                Some(ready.remove(0))
            }
        }
    }
}

fn a_producer_with_nothing_yet_is_not_asked_again_until_resume_output(kind: SelectorKind) {
    let feed = Feed::default();
    let for_server = feed.clone();
    let (mut event_loop, client, _) = serve(kind, move || {
        let mut chat = AsyncChat::new(Silent, b"\n");
        chat.channel()
            .push_with_producer(for_server.producer())
            .unwrap();
        chat
    });
    let token = event_loop.state().channels[0];
    run_steps(&mut event_loop, 20);
    let asked = feed.asked.get();
    assert!(
        (1..=3).contains(&asked),
        "asked {asked} times while it had nothing (at most a few expected)"
    );
    // The data is ready: resume from a closure on the loop, reaching the chat channel.
    feed.ready.borrow_mut().push(b"now ready\n".to_vec());
    event_loop
        .handle()
        .call_soon_threadsafe(move |cx| {
            cx.get_mut::<AsyncChat<Silent>>(token)
                .expect("the chat channel")
                .channel()
                .resume_output();
        })
        .unwrap();
    assert_eq!(run_until_read(&mut event_loop, &client, 10), b"now ready\n");
    let after = feed.asked.get();
    assert!(after > asked, "not asked again after resume_output");
    run_steps(&mut event_loop, 20);
    let asked_again = feed.asked.get() - after;
    assert!(
        asked_again <= 3,
        "asked {asked_again} more times with nothing ready"
    );
}

/// A producer that keeps saying "not now" must not keep a channel open after its peer has
/// gone: the default `handle_close` asks `close_when_done`, and after that an empty piece
/// counts as the producer's end.
fn a_channel_waiting_on_a_producer_closes_when_its_peer_leaves(kind: SelectorKind) {
    let feed = Feed::default();
    let for_server = feed.clone();
    let (mut event_loop, client, _) = serve(kind, move || {
        let mut chat = AsyncChat::new(Silent, b"\n");
        chat.channel()
            .push_with_producer(for_server.producer())
            .unwrap();
        chat
    });
    run_steps(&mut event_loop, 5);
    assert_eq!(event_loop.state().channels.len(), 1);
    let before = event_loop.len();
    drop(client);
    run_until_loop(
        &mut event_loop,
        |event_loop| event_loop.len() < before,
        LIMIT,
    );
    assert!(
        feed.asked.get() < MAX_ASKS,
        "asked {} times",
        feed.asked.get()
    );
}

/// Makes its feed's data ready on a timer armed when the channel opens, and resumes the
/// output.
struct ReadyLater {
    feed: Feed,
}

impl ChatHandler<Rec> for ReadyLater {
    fn found_terminator(
        &mut self,
        _: &mut ChatChannel,
        _: &mut Context<'_, Rec>,
        _: &[u8],
    ) -> io::Result<()> {
        Ok(())
    }

    fn handle_opened(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Rec>,
    ) -> io::Result<()> {
        chat.push_with_producer(self.feed.producer())?;
        cx.call_later(Duration::from_millis(100));
        Ok(())
    }

    fn handle_timer(
        &mut self,
        chat: &mut ChatChannel,
        cx: &mut Context<'_, Rec>,
        _: ioloop::TimerId,
    ) -> io::Result<()> {
        let asked = self.feed.asked.get();
        cx.state()
            .messages
            .push(format!("asked {asked}").into_bytes());
        self.feed
            .ready
            .borrow_mut()
            .push(b"from the timer\n".to_vec());
        chat.resume_output();
        Ok(())
    }
}

fn resume_output_from_handle_timer_sends_what_the_producer_then_has(kind: SelectorKind) {
    let feed = Feed::default();
    let for_server = feed.clone();
    let (mut event_loop, client, _) = serve(kind, move || {
        AsyncChat::new(
            ReadyLater {
                feed: for_server.clone(),
            },
            b"\n",
        )
    });
    assert_eq!(
        run_until_read(&mut event_loop, &client, 15),
        b"from the timer\n"
    );
    // Over the 100 ms before the timer, the producer was asked a few times, not hundreds.
    let texts = event_loop.state().texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    let before_timer: usize = texts[0]
        .strip_prefix("asked ")
        .and_then(|n| n.parse().ok())
        .expect("the count");
    assert!(
        (1..=3).contains(&before_timer),
        "asked {before_timer} times before the timer"
    );
}

per_kind! {
    a_channel_waiting_on_a_producer_closes_when_its_peer_leaves,
    line_terminators_of_one_two_and_three_bytes_split_across_reads_of_one_two_and_three,
    a_numeric_terminator_delivers_its_count_then_stays_spent,
    the_none_terminator_collects_everything_and_delivers_nothing,
    a_simple_producer_and_a_closure_producer_arrive_exactly,
    a_large_push_arrives_intact,
    consecutive_terminators_deliver_empty_messages,
    messages_of_one_read_each_arrive_alone_in_the_reused_buffer,
    close_when_done_sends_everything_then_closes_and_refuses_later_pushes,
    push_takes_byte_slices_vectors_arrays_and_text,
    a_spurious_wake_up_neither_closes_nor_reaches_handle_error,
    set_terminator_in_found_terminator_applies_to_bytes_already_read,
    no_message_is_delivered_after_close,
    an_over_long_message_is_invalid_data_and_closes_only_that_channel,
    a_peer_that_does_not_read_stops_the_channel_reading_and_memory_stays_bounded,
    discard_buffers_keeps_a_pending_close,
    length_prefixed_frames_split_anywhere_are_delivered_whole,
    a_chat_client_sends_what_it_queued_before_connecting_and_frames_the_replies,
    a_chat_timer_can_push_a_last_word_and_close_the_session,
    an_unterminated_tail_at_end_of_file_is_dropped_and_the_channel_closes,
    a_peer_that_half_closes_gets_the_whole_answer_before_the_close,
    many_pushes_arrive_in_order_through_a_peer_that_reads_slowly,
    a_shared_buffer_pushed_to_several_channels_arrives_at_each,
    a_producer_between_pushes_keeps_its_place,
    a_greeting_pushed_in_handle_opened_reaches_the_client_before_it_sends_anything,
    a_producer_with_nothing_yet_is_not_asked_again_until_resume_output,
    resume_output_from_handle_timer_sends_what_the_producer_then_has,
}
