//! The TCP transport's frame decoder (`tcp::read_preamble`, `tcp::read_frame`) on bytes: what a
//! peer may send, including lies about lengths (found by the `raft_frame` fuzz target).

use std::io::{self, Read};

use protobuf::Message as _;
use raft::eraftpb::{Entry, Message, MessageType};
use stele_raft::tcp::{read_frame, read_preamble, FRAME_CHUNK};

/// A reader over `bytes` that records the largest buffer it was asked to fill: the memory a
/// decoder committed before the bytes arrived.
struct Recording<'a> {
    bytes: &'a [u8],
    largest: usize,
}

impl Read for Recording<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.largest = self.largest.max(buf.len());
        self.bytes.read(buf)
    }
}

fn frame(m: &Message) -> Vec<u8> {
    let body = m.write_to_bytes().unwrap();
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

#[test]
fn a_frame_announcing_a_gigabyte_and_sending_nothing_allocates_no_gigabyte() {
    // The fuzzer's finding: 12 bytes made the reader allocate (and zero) the announced length
    // up front, up to max_frame (1 GiB by default), per connection.
    let mut bytes = (1u32 << 30).to_be_bytes().to_vec();
    bytes.extend_from_slice(b"tiny");
    let mut r = Recording {
        bytes: &bytes,
        largest: 0,
    };
    let err = read_frame(&mut r, 1 << 30).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    assert!(
        r.largest <= FRAME_CHUNK,
        "asked for a {} byte buffer before the bytes arrived",
        r.largest
    );
}

#[test]
fn frames_of_every_size_decode_as_sent() {
    let mut small = Message::default();
    small.set_msg_type(MessageType::MsgHeartbeat);
    small.to = 2;
    small.from = 1;
    small.term = 3;
    // Larger than several chunks, so the buffer grows more than once.
    let mut big = Message::default();
    big.set_msg_type(MessageType::MsgAppend);
    big.entries = vec![Entry {
        index: 7,
        term: 3,
        data: vec![0xab; 3 * FRAME_CHUNK + 5].into(),
        ..Entry::default()
    }]
    .into();
    let mut bytes = b"STELERF1".to_vec();
    for m in [&small, &big, &small] {
        bytes.extend_from_slice(&frame(m));
    }
    let mut r = &bytes[..];
    read_preamble(&mut r).unwrap();
    for want in [&small, &big, &small] {
        let got = read_frame(&mut r, 1 << 30).unwrap().expect("a frame");
        assert_eq!(&got, want);
    }
    assert!(read_frame(&mut r, 1 << 30).unwrap().is_none(), "clean end");
}

#[test]
fn bad_preambles_lengths_and_messages_are_errors() {
    assert!(read_preamble(&mut &b"STELERF2"[..]).is_err());
    assert!(read_preamble(&mut &b"STEL"[..]).is_err());
    let over = 11u32.to_be_bytes();
    let e = read_frame(&mut &over[..], 10).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    let mut junk = 3u32.to_be_bytes().to_vec();
    junk.extend_from_slice(&[0xff, 0xff, 0xff]);
    let e = read_frame(&mut &junk[..], 10).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
}
