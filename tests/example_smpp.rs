//! The `smpp_server` example over real sockets, once per selector backend: binds, enquire
//! links, short messages, unbind, and the framing cases (PDUs coalesced, split byte by byte,
//! bad `command_length`s).

mod common;

use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use ioloop::selector::SelectorKind;

use common::example::Server;
use common::kinds::per_kind;
use common::net::{expect_eof, expect_silence, recv_exact, send};

const GENERIC_NACK: u32 = 0x8000_0000;
const BIND_RECEIVER: u32 = 0x0000_0001;
const BIND_TRANSMITTER: u32 = 0x0000_0002;
const SUBMIT_SM: u32 = 0x0000_0004;
const UNBIND: u32 = 0x0000_0006;
const BIND_TRANSCEIVER: u32 = 0x0000_0009;
const ENQUIRE_LINK: u32 = 0x0000_0015;
const RESP: u32 = 0x8000_0000;

const ESME_ROK: u32 = 0x00;
const ESME_RINVCMDLEN: u32 = 0x02;
const ESME_RINVCMDID: u32 = 0x03;
const ESME_RINVBNDSTS: u32 = 0x04;
const ESME_RALYBND: u32 = 0x05;
const ESME_RINVPASWD: u32 = 0x0E;
const ESME_RINVSYSID: u32 = 0x0F;

/// A decoded PDU.
#[derive(Debug, PartialEq, Eq)]
struct Pdu {
    command_id: u32,
    status: u32,
    sequence: u32,
    body: Vec<u8>,
}

fn encode(command_id: u32, status: u32, sequence: u32, body: &[u8]) -> Vec<u8> {
    let length = u32::try_from(16 + body.len()).unwrap();
    let mut out = Vec::new();
    for field in [length, command_id, status, sequence] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

fn request(command_id: u32, sequence: u32, body: &[u8]) -> Vec<u8> {
    encode(command_id, 0, sequence, body)
}

/// A bind body: system_id, password, system_type, interface_version 0x34, addr_ton,
/// addr_npi, address_range.
fn bind_body(system_id: &str, password: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for text in [system_id, password, "TEST"] {
        body.extend_from_slice(text.as_bytes());
        body.push(0);
    }
    body.extend_from_slice(&[0x34, 1, 1]);
    body.push(0); // address_range ""
    body
}

fn bind(command_id: u32, sequence: u32, system_id: &str, password: &str) -> Vec<u8> {
    request(command_id, sequence, &bind_body(system_id, password))
}

/// A submit_sm body carrying `text`.
fn submit_body(text: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.push(0); // service_type ""
    body.extend_from_slice(&[1, 1]); // source_addr_ton, source_addr_npi
    body.extend_from_slice(b"12345\0");
    body.extend_from_slice(&[1, 1]); // dest_addr_ton, dest_addr_npi
    body.extend_from_slice(b"67890\0");
    body.extend_from_slice(&[0, 0, 0]); // esm_class, protocol_id, priority_flag
    body.extend_from_slice(b"\0\0"); // schedule_delivery_time, validity_period
    body.extend_from_slice(&[0, 0, 0, 0]); // registered_delivery … sm_default_msg_id
    body.push(u8::try_from(text.len()).unwrap()); // sm_length
    body.extend_from_slice(text.as_bytes());
    body
}

fn submit(sequence: u32, text: &str) -> Vec<u8> {
    request(SUBMIT_SM, sequence, &submit_body(text))
}

fn read_pdu(stream: &mut TcpStream) -> Pdu {
    let header = recv_exact(stream, 16);
    let field = |at: usize| u32::from_be_bytes(header[at..at + 4].try_into().unwrap());
    let length = usize::try_from(field(0)).unwrap();
    assert!(
        (16..=64 * 1024).contains(&length),
        "response command_length {length}"
    );
    Pdu {
        command_id: field(4),
        status: field(8),
        sequence: field(12),
        body: recv_exact(stream, length - 16),
    }
}

/// Sends `pdu`, reads one response and checks its header and body.
fn exchange(stream: &mut TcpStream, pdu: &[u8]) -> Pdu {
    send(stream, pdu);
    read_pdu(stream)
}

fn header_only(command_id: u32, status: u32, sequence: u32) -> Pdu {
    Pdu {
        command_id,
        status,
        sequence,
        body: Vec::new(),
    }
}

fn bound_as(command_id: u32, sequence: u32, system_id: &str) -> Pdu {
    let mut body = system_id.as_bytes().to_vec();
    body.push(0);
    Pdu {
        command_id: command_id | RESP,
        status: ESME_ROK,
        sequence,
        body,
    }
}

/// The `message_id` of a successful submit_sm_resp: a decimal number as a C-string.
fn message_id(response: &Pdu, sequence: u32) -> u64 {
    assert_eq!(response.command_id, SUBMIT_SM | RESP, "{response:?}");
    assert_eq!(response.status, ESME_ROK, "{response:?}");
    assert_eq!(response.sequence, sequence, "{response:?}");
    let (last, text) = response.body.split_last().expect("a message_id");
    assert_eq!(*last, 0, "message_id is not NUL-terminated: {response:?}");
    std::str::from_utf8(text)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("message_id {text:?} is not a number"))
}

/// Runs `test` against a fresh server on `kind`.
fn with_server(kind: SelectorKind, extra: &[&str], test: impl FnOnce(&Server)) {
    let server = Server::start("smpp_server", kind, extra);
    test(&server);
    server.stop();
}

fn bind_with_good_credentials_returns_the_system_id(kind: SelectorKind) {
    with_server(kind, &[], |server| {
        for (sequence, command_id) in [
            (1, BIND_TRANSCEIVER),
            (2, BIND_TRANSMITTER),
            (3, BIND_RECEIVER),
        ] {
            let mut stream = server.connect();
            let response = exchange(&mut stream, &bind(command_id, sequence, "admin", "abcdef"));
            assert_eq!(response, bound_as(command_id, sequence, "admin"));
        }
    });
}

fn bind_with_bad_credentials_is_refused_header_only(kind: SelectorKind) {
    with_server(kind, &[], |server| {
        let mut stream = server.connect();
        let response = exchange(&mut stream, &bind(BIND_TRANSCEIVER, 7, "admin", "wrong"));
        assert_eq!(
            response,
            header_only(BIND_TRANSCEIVER | RESP, ESME_RINVPASWD, 7)
        );
        let response = exchange(&mut stream, &bind(BIND_TRANSMITTER, 8, "nobody", "abcdef"));
        assert_eq!(
            response,
            header_only(BIND_TRANSMITTER | RESP, ESME_RINVSYSID, 8)
        );
        // Still unbound: no short message yet, but a good bind now succeeds.
        let response = exchange(&mut stream, &submit(9, "hi"));
        assert_eq!(response, header_only(SUBMIT_SM | RESP, ESME_RINVBNDSTS, 9));
        let response = exchange(&mut stream, &bind(BIND_TRANSCEIVER, 10, "admin", "abcdef"));
        assert_eq!(response, bound_as(BIND_TRANSCEIVER, 10, "admin"));
    });
}

fn credentials_come_from_the_command_line(kind: SelectorKind) {
    with_server(
        kind,
        &["--system-id", "smsc01", "--password", "s3cret"],
        |server| {
            let mut stream = server.connect();
            let response = exchange(&mut stream, &bind(BIND_TRANSCEIVER, 1, "admin", "abcdef"));
            assert_eq!(
                response,
                header_only(BIND_TRANSCEIVER | RESP, ESME_RINVSYSID, 1)
            );
            let response = exchange(&mut stream, &bind(BIND_TRANSCEIVER, 2, "smsc01", "abcdef"));
            assert_eq!(
                response,
                header_only(BIND_TRANSCEIVER | RESP, ESME_RINVPASWD, 2)
            );
            let response = exchange(&mut stream, &bind(BIND_TRANSCEIVER, 3, "smsc01", "s3cret"));
            assert_eq!(response, bound_as(BIND_TRANSCEIVER, 3, "smsc01"));
        },
    );
}

fn a_second_bind_is_refused(kind: SelectorKind) {
    with_server(kind, &[], |server| {
        let mut stream = server.connect();
        let response = exchange(&mut stream, &bind(BIND_TRANSCEIVER, 1, "admin", "abcdef"));
        assert_eq!(response, bound_as(BIND_TRANSCEIVER, 1, "admin"));
        let response = exchange(&mut stream, &bind(BIND_TRANSMITTER, 2, "admin", "abcdef"));
        assert_eq!(
            response,
            header_only(BIND_TRANSMITTER | RESP, ESME_RALYBND, 2)
        );
    });
}

fn enquire_link_is_answered_in_any_state(kind: SelectorKind) {
    with_server(kind, &[], |server| {
        let mut stream = server.connect();
        let response = exchange(&mut stream, &request(ENQUIRE_LINK, 0x0102_0304, &[]));
        assert_eq!(
            response,
            header_only(ENQUIRE_LINK | RESP, ESME_ROK, 0x0102_0304)
        );
        exchange(&mut stream, &bind(BIND_TRANSCEIVER, 5, "admin", "abcdef"));
        let response = exchange(&mut stream, &request(ENQUIRE_LINK, 6, &[]));
        assert_eq!(response, header_only(ENQUIRE_LINK | RESP, ESME_ROK, 6));
    });
}

fn submit_sm_before_bind_is_refused(kind: SelectorKind) {
    with_server(kind, &[], |server| {
        let mut stream = server.connect();
        let response = exchange(&mut stream, &submit(3, "too early"));
        assert_eq!(response, header_only(SUBMIT_SM | RESP, ESME_RINVBNDSTS, 3));
        // A receiver may not submit either.
        let mut receiver = server.connect();
        exchange(&mut receiver, &bind(BIND_RECEIVER, 1, "admin", "abcdef"));
        let response = exchange(&mut receiver, &submit(2, "receiver"));
        assert_eq!(response, header_only(SUBMIT_SM | RESP, ESME_RINVBNDSTS, 2));
    });
}

fn submit_sm_after_bind_gets_increasing_message_ids(kind: SelectorKind) {
    with_server(kind, &[], |server| {
        let mut stream = server.connect();
        let response = exchange(&mut stream, &bind(BIND_TRANSCEIVER, 1, "admin", "abcdef"));
        assert_eq!(response, bound_as(BIND_TRANSCEIVER, 1, "admin"));
        let first = message_id(&exchange(&mut stream, &submit(2, "hello")), 2);
        let second = message_id(&exchange(&mut stream, &submit(3, "world")), 3);
        assert_eq!(first, 1, "a fresh server's first message_id");
        assert_eq!(second, 2);
        // A transmitter on another connection shares the counter.
        let mut other = server.connect();
        exchange(&mut other, &bind(BIND_TRANSMITTER, 1, "admin", "abcdef"));
        let third = message_id(&exchange(&mut other, &submit(2, "again")), 2);
        assert_eq!(third, 3);
    });
}

fn unknown_command_gets_generic_nack_and_the_session_goes_on(kind: SelectorKind) {
    with_server(kind, &[], |server| {
        let mut stream = server.connect();
        let response = exchange(&mut stream, &request(0x0000_0103, 42, b"data"));
        assert_eq!(response, header_only(GENERIC_NACK, ESME_RINVCMDID, 42));
        let response = exchange(&mut stream, &request(ENQUIRE_LINK, 43, &[]));
        assert_eq!(response, header_only(ENQUIRE_LINK | RESP, ESME_ROK, 43));
    });
}

fn responses_from_the_client_are_ignored(kind: SelectorKind) {
    with_server(kind, &[], |server| {
        let mut stream = server.connect();
        let mut bytes = encode(ENQUIRE_LINK | RESP, 0, 1, &[]);
        bytes.extend(encode(GENERIC_NACK, ESME_RINVCMDID, 2, &[]));
        bytes.extend(request(ENQUIRE_LINK, 3, &[]));
        let response = exchange(&mut stream, &bytes);
        assert_eq!(response, header_only(ENQUIRE_LINK | RESP, ESME_ROK, 3));
        expect_silence(&stream, Duration::from_millis(100));
    });
}

fn coalesced_pdus_are_answered_in_order(kind: SelectorKind) {
    with_server(kind, &[], |server| {
        let mut stream = server.connect();
        let mut bytes = bind(BIND_TRANSCEIVER, 1, "admin", "abcdef");
        bytes.extend(request(ENQUIRE_LINK, 2, &[]));
        bytes.extend(submit(3, "coalesced"));
        send(&stream, &bytes);
        assert_eq!(
            read_pdu(&mut stream),
            bound_as(BIND_TRANSCEIVER, 1, "admin")
        );
        assert_eq!(
            read_pdu(&mut stream),
            header_only(ENQUIRE_LINK | RESP, ESME_ROK, 2)
        );
        assert!(message_id(&read_pdu(&mut stream), 3) >= 1);
    });
}

fn a_pdu_sent_byte_by_byte_is_answered(kind: SelectorKind) {
    with_server(kind, &[], |server| {
        let mut stream = server.connect();
        let mut bytes = bind(BIND_TRANSCEIVER, 11, "admin", "abcdef");
        bytes.extend(submit(12, "slowly"));
        for byte in &bytes {
            send(&stream, std::slice::from_ref(byte));
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            read_pdu(&mut stream),
            bound_as(BIND_TRANSCEIVER, 11, "admin")
        );
        assert_eq!(message_id(&read_pdu(&mut stream), 12), 1);
    });
}

fn command_length_under_16_gets_generic_nack_then_close(kind: SelectorKind) {
    with_server(kind, &[], |server| {
        // A whole 8-byte frame: command_length and command_id only.
        let mut stream = server.connect();
        let mut bytes = 8u32.to_be_bytes().to_vec();
        bytes.extend(ENQUIRE_LINK.to_be_bytes());
        send(&stream, &bytes);
        assert_eq!(
            read_pdu(&mut stream),
            header_only(GENERIC_NACK, ESME_RINVCMDLEN, 0)
        );
        expect_eof(&stream);

        // A length under 4 cannot even count itself.
        let mut stream = server.connect();
        let mut bytes = 2u32.to_be_bytes().to_vec();
        bytes.extend(&encode(ENQUIRE_LINK, 0, 5, &[])[4..]);
        send(&stream, &bytes);
        assert_eq!(
            read_pdu(&mut stream),
            header_only(GENERIC_NACK, ESME_RINVCMDLEN, 0)
        );
        expect_eof(&stream);
    });
}

fn command_length_over_64_kib_gets_generic_nack_then_close(kind: SelectorKind) {
    with_server(kind, &[], |server| {
        for length in [0x7fff_ffff_u32, 64 * 1024 + 1] {
            let mut stream = server.connect();
            let mut bytes = length.to_be_bytes().to_vec();
            bytes.extend(&request(SUBMIT_SM, 9, &[])[4..]);
            send(&stream, &bytes);
            assert_eq!(
                read_pdu(&mut stream),
                header_only(GENERIC_NACK, ESME_RINVCMDLEN, 0),
                "command_length {length:#x}"
            );
            expect_eof(&stream);
        }
    });
}

fn pdus_answered_before_a_bad_length_in_the_same_segment(kind: SelectorKind) {
    with_server(kind, &[], |server| {
        let mut stream = server.connect();
        let mut bytes = request(ENQUIRE_LINK, 1, &[]);
        bytes.extend(0x7fff_ffff_u32.to_be_bytes());
        bytes.extend(&request(ENQUIRE_LINK, 2, &[])[4..]);
        send(&stream, &bytes);
        assert_eq!(
            read_pdu(&mut stream),
            header_only(ENQUIRE_LINK | RESP, ESME_ROK, 1)
        );
        assert_eq!(
            read_pdu(&mut stream),
            header_only(GENERIC_NACK, ESME_RINVCMDLEN, 0)
        );
        expect_eof(&stream);
    });
}

fn unbind_is_answered_then_the_server_closes(kind: SelectorKind) {
    with_server(kind, &[], |server| {
        let mut stream = server.connect();
        exchange(&mut stream, &bind(BIND_TRANSCEIVER, 1, "admin", "abcdef"));
        let response = exchange(&mut stream, &request(UNBIND, 2, &[]));
        assert_eq!(response, header_only(UNBIND | RESP, ESME_ROK, 2));
        expect_eof(&stream);

        // PDUs behind an unbind in the same segment are not answered.
        let mut stream = server.connect();
        let mut bytes = request(UNBIND, 3, &[]);
        bytes.extend(request(ENQUIRE_LINK, 4, &[]));
        send(&stream, &bytes);
        assert_eq!(
            read_pdu(&mut stream),
            header_only(UNBIND | RESP, ESME_ROK, 3)
        );
        expect_eof(&stream);
    });
}

fn a_bad_connection_does_not_affect_others(kind: SelectorKind) {
    with_server(kind, &[], |server| {
        let mut good = server.connect();
        let response = exchange(&mut good, &bind(BIND_TRANSCEIVER, 1, "admin", "abcdef"));
        assert_eq!(response, bound_as(BIND_TRANSCEIVER, 1, "admin"));

        let mut bad = server.connect();
        let mut bytes = 0x7fff_ffff_u32.to_be_bytes().to_vec();
        bytes.extend(&request(SUBMIT_SM, 1, &[])[4..]);
        send(&bad, &bytes);
        assert_eq!(
            read_pdu(&mut bad),
            header_only(GENERIC_NACK, ESME_RINVCMDLEN, 0)
        );
        expect_eof(&bad);

        // A client that vanishes mid-PDU.
        let gone = server.connect();
        send(&gone, &bind(BIND_TRANSCEIVER, 1, "admin", "abcdef")[..10]);
        drop(gone);

        let response = exchange(&mut good, &request(ENQUIRE_LINK, 2, &[]));
        assert_eq!(response, header_only(ENQUIRE_LINK | RESP, ESME_ROK, 2));
        assert_eq!(
            message_id(&exchange(&mut good, &submit(3, "still here")), 3),
            1
        );
    });
}

per_kind! {
    bind_with_good_credentials_returns_the_system_id,
    bind_with_bad_credentials_is_refused_header_only,
    credentials_come_from_the_command_line,
    a_second_bind_is_refused,
    enquire_link_is_answered_in_any_state,
    submit_sm_before_bind_is_refused,
    submit_sm_after_bind_gets_increasing_message_ids,
    unknown_command_gets_generic_nack_and_the_session_goes_on,
    responses_from_the_client_are_ignored,
    coalesced_pdus_are_answered_in_order,
    a_pdu_sent_byte_by_byte_is_answered,
    command_length_under_16_gets_generic_nack_then_close,
    command_length_over_64_kib_gets_generic_nack_then_close,
    pdus_answered_before_a_bad_length_in_the_same_segment,
    unbind_is_answered_then_the_server_closes,
    a_bad_connection_does_not_affect_others,
}
