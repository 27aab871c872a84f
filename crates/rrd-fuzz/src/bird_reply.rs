//! BIRD control-socket replies ([`rrd_engine_bird::socket::Reply`]) and
//! what the engine reads from them (`show protocols all`, `show status`,
//! the Since column).
//!
//! Checked: a reply written back in the wire form parses to the same
//! reply; every session found names a protocol of the reply.

use rrd_core::Family;
use rrd_engine_bird::observe::{self, DaemonStatus};
use rrd_engine_bird::socket::Reply;

pub fn run(data: &[u8]) {
    // The socket reader decodes lossily too.
    let text = String::from_utf8_lossy(data);
    let Some(reply) = Reply::parse(&text) else {
        return;
    };
    let _ = (reply.summary(), reply.class(), reply.is_error());
    let status = DaemonStatus::parse(&reply);
    let _ = status.is_settled();
    let blocks = observe::protocol_blocks(&reply);
    for family in [None, Some(Family::Ipv4), Some(Family::Ipv6)] {
        for s in observe::sessions(&reply, family, &mut observe::Sinces::default()) {
            assert!(
                blocks.iter().any(|(row, _)| row.name == s.key.0),
                "session {} is not a protocol of the reply",
                s.key.0
            );
        }
    }
    let now = jiff::Timestamp::from_second(1_700_000_000)
        .expect("a valid time")
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(2)));
    for (row, _) in &blocks {
        let _ = observe::since_timestamp(&row.since, &now);
    }
    let wire = wire_form(&reply);
    assert_eq!(
        Reply::parse(&wire).as_ref(),
        Some(&reply),
        "written back as {wire:?}"
    );
}

/// `DDDD-text` for every line but the last, `DDDD text` for the last.
fn wire_form(reply: &Reply) -> String {
    let last = reply.lines.len().saturating_sub(1);
    reply
        .lines
        .iter()
        .enumerate()
        .map(|(i, (code, text))| {
            let sep = if i == last { ' ' } else { '-' };
            format!("{code:04}{sep}{text}\n")
        })
        .collect()
}
