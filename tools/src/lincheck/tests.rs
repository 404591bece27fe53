//! Unit tests of the checker: hand-made histories (linearizable or not), unknown outcomes, a
//! property test against a brute-force checker, and large histories of a simulated register.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::register::{KvInput, KvModel, KvOutput};
use super::{check, Budget, Model, OpOf, PartitionResult, Verdict};

type Op = OpOf<KvModel>;

fn op(key: &str, call: u64, ret: u64, input: KvInput, output: KvOutput) -> Op {
    Op {
        client: 0,
        key: key.into(),
        call,
        ret: Some(ret),
        input,
        output: Some(output),
    }
}

fn put(call: u64, ret: u64, v: &str) -> Op {
    op("k", call, ret, KvInput::Put(v.into()), KvOutput::Ok)
}

fn del(call: u64, ret: u64) -> Op {
    op("k", call, ret, KvInput::Delete, KvOutput::Ok)
}

fn get(call: u64, ret: u64, v: Option<&str>) -> Op {
    let v = v.map(|s| s.as_bytes().to_vec());
    op("k", call, ret, KvInput::Get, KvOutput::Value(v))
}

fn unknown(mut o: Op) -> Op {
    o.ret = None;
    o.output = None;
    o
}

fn verdict(h: &[Op]) -> Verdict {
    check(&KvModel, h, Budget::default()).verdict
}

#[test]
fn accepts_linearizable_histories() {
    assert_eq!(verdict(&[]), Verdict::Linearizable);
    // Sequential.
    let h = [
        get(0, 1, None),
        put(2, 3, "a"),
        get(4, 5, Some("a")),
        del(6, 7),
        get(8, 9, None),
    ];
    assert_eq!(verdict(&h), Verdict::Linearizable);
    // A read concurrent with a write may see either value.
    for seen in [None, Some("a")] {
        assert_eq!(
            verdict(&[put(0, 10, "a"), get(1, 2, seen)]),
            Verdict::Linearizable
        );
    }
    // Two concurrent writes, read in either order by later reads: any one order works.
    let h = [
        put(0, 10, "a"),
        put(0, 10, "b"),
        get(11, 12, Some("b")),
        get(13, 14, Some("b")),
    ];
    assert_eq!(verdict(&h), Verdict::Linearizable);
    // Touching intervals count as concurrent.
    assert_eq!(
        verdict(&[put(0, 5, "a"), get(5, 6, None)]),
        Verdict::Linearizable
    );
}

#[test]
fn rejects_a_stale_read_after_an_acknowledged_write() {
    let h = [put(0, 1, "a"), put(2, 3, "b"), get(4, 5, Some("a"))];
    let r = check(&KvModel, &h, Budget::default());
    assert_eq!(r.verdict, Verdict::NotLinearizable);
    assert_eq!(r.failures.len(), 1);
    assert_eq!(r.failures[0].key, "k");
    match &r.failures[0].result {
        PartitionResult::Violation { longest, stuck } => {
            assert_eq!(longest, &vec![0, 1]);
            assert_eq!(stuck, &vec![2]);
        }
        other => panic!("{other:?}"),
    }
    // Reading nothing after an acknowledged write, and a value after an acknowledged delete.
    assert_eq!(
        verdict(&[put(0, 1, "a"), get(2, 3, None)]),
        Verdict::NotLinearizable
    );
    assert_eq!(
        verdict(&[put(0, 1, "a"), del(2, 3), get(4, 5, Some("a"))]),
        Verdict::NotLinearizable
    );
}

#[test]
fn rejects_a_read_of_a_value_never_written() {
    assert_eq!(
        verdict(&[put(0, 1, "a"), get(2, 3, Some("z"))]),
        Verdict::NotLinearizable
    );
    assert_eq!(verdict(&[get(0, 1, Some("z"))]), Verdict::NotLinearizable);
}

#[test]
fn rejects_reads_seeing_writes_in_inconsistent_orders() {
    // Both writes are done before the reads; one read sees b then a later one sees a.
    let h = [
        put(0, 10, "a"),
        put(0, 10, "b"),
        get(11, 12, Some("b")),
        get(13, 14, Some("a")),
    ];
    assert_eq!(verdict(&h), Verdict::NotLinearizable);
    // A value read, then an older one: a read may not go back in time even during the writes.
    let h = [
        put(0, 1, "a"),
        put(2, 20, "b"),
        get(3, 4, Some("b")),
        get(5, 6, Some("a")),
    ];
    assert_eq!(verdict(&h), Verdict::NotLinearizable);
    // The same key stays independent of others: a violation on one key is found among many.
    let mut h: Vec<Op> = (0..50)
        .map(|i| {
            let mut o = put(i * 2, i * 2 + 1, &format!("v{i}"));
            o.key = format!("k{}", i % 5);
            o
        })
        .collect();
    h.push(get(200, 201, Some("v1")));
    h.last_mut().unwrap().key = "k1".into();
    let r = check(&KvModel, &h, Budget::default());
    assert_eq!(r.verdict, Verdict::NotLinearizable);
    assert_eq!(r.partitions, 5);
    assert_eq!(r.failures.len(), 1);
    assert_eq!(r.failures[0].key, "k1");
}

#[test]
fn unknown_outcomes_may_or_may_not_have_happened() {
    // An unknown write seen later, or never seen: both fine.
    let w = unknown(put(0, 1, "a"));
    assert_eq!(
        verdict(&[w.clone(), get(5, 6, Some("a"))]),
        Verdict::Linearizable
    );
    assert_eq!(
        verdict(&[w.clone(), get(5, 6, None)]),
        Verdict::Linearizable
    );
    // ... even long after the client gave up on it.
    let h = [w.clone(), get(5, 6, None), get(100, 101, Some("a"))];
    assert_eq!(verdict(&h), Verdict::Linearizable);
    // But it takes effect once: seen, then not seen (nothing else wrote) is a violation.
    let h = [w.clone(), get(5, 6, Some("a")), get(7, 8, None)];
    assert_eq!(verdict(&h), Verdict::NotLinearizable);
    // It cannot take effect before it was invoked.
    let h = [get(0, 1, Some("a")), unknown(put(2, 3, "a"))];
    assert_eq!(verdict(&h), Verdict::NotLinearizable);
    // An unknown delete explains a key vanishing.
    let h = [put(0, 1, "a"), unknown(del(2, 3)), get(4, 5, None)];
    assert_eq!(verdict(&h), Verdict::Linearizable);
    // Unknown reads constrain nothing and are not counted.
    let r = check(
        &KvModel,
        &[unknown(get(0, 1, Some("zz")))],
        Budget::default(),
    );
    assert_eq!((r.verdict, r.checked), (Verdict::Linearizable, 0));
    let r = check(&KvModel, &[w], Budget::default());
    assert_eq!((r.checked, r.unknown), (1, 1));
}

/// Whether `h` (one key) is linearizable, by trying every order.
fn brute(h: &[Op]) -> bool {
    fn go(h: &[Op], done: &mut Vec<bool>, state: &Option<Vec<u8>>) -> bool {
        if (0..h.len()).all(|i| done[i] || !h[i].is_known()) {
            return true;
        }
        for i in 0..h.len() {
            if done[i] {
                continue;
            }
            // i may come next unless a pending known op returned before i was invoked.
            let blocked = (0..h.len())
                .any(|j| !done[j] && j != i && h[j].is_known() && h[j].ret.unwrap() < h[i].call);
            if blocked {
                continue;
            }
            let out = if h[i].is_known() {
                h[i].output.as_ref()
            } else {
                None
            };
            if let Some(next) = KvModel.step(state, &h[i].input, out) {
                done[i] = true;
                let ok = go(h, done, &next);
                done[i] = false;
                if ok {
                    return true;
                }
            }
        }
        false
    }
    go(h, &mut vec![false; h.len()], &None)
}

fn arb_op() -> impl Strategy<Value = Op> {
    (
        0u64..20,
        0u64..8,
        0u8..3,
        0u8..4,
        proptest::bool::weighted(0.2),
    )
        .prop_map(|(call, len, kind, v, lost)| {
            let val = |v: u8| Some(format!("v{v}"));
            let o = match kind {
                0 => put(call, call + len, &val(v % 3).unwrap()),
                1 => del(call, call + len),
                _ => get(
                    call,
                    call + len,
                    if v == 3 { None } else { val(v) }.as_deref(),
                ),
            };
            if lost {
                unknown(o)
            } else {
                o
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]
    #[test]
    fn agrees_with_brute_force(h in proptest::collection::vec(arb_op(), 0..8)) {
        let want = brute(&h);
        let got = check(&KvModel, &h, Budget::default()).verdict;
        prop_assert_eq!(got, if want { Verdict::Linearizable } else { Verdict::NotLinearizable });
    }
}

/// A linearizable history: `clients` clients each run `per_client` operations on random keys
/// of `keys`, back to back with random gaps; each takes effect at a random point of its
/// interval, and outputs follow from those points. Some operations lose their answer.
fn simulated(seed: u64, keys: usize, clients: usize, per_client: usize) -> Vec<Op> {
    let mut rng = seed.max(1);
    let mut next = move |m: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % m
    };
    // (effect time, op index) of every op, to compute outputs in effect order.
    let mut ops = Vec::new();
    let mut effects = Vec::new();
    for c in 0..clients {
        let mut t = next(100);
        for i in 0..per_client {
            let call = t;
            let len = 1 + next(200);
            let key = format!("k{}", next(keys as u64));
            let input = match next(10) {
                0..=3 => KvInput::Put(format!("c{c}-{i}").into_bytes()),
                4 => KvInput::Delete,
                _ => KvInput::Get,
            };
            let lost = next(50) == 0;
            effects.push((call + next(len), ops.len()));
            ops.push(Op {
                client: c as u64,
                key,
                call,
                ret: (!lost).then_some(call + len),
                input,
                output: None,
            });
            t = call + len + next(30);
        }
    }
    effects.sort_unstable();
    let mut state = std::collections::HashMap::<String, Vec<u8>>::new();
    for (_, i) in effects {
        let o = &mut ops[i];
        let out = match &o.input {
            KvInput::Put(v) => {
                state.insert(o.key.clone(), v.clone());
                KvOutput::Ok
            }
            KvInput::Delete => {
                state.remove(&o.key);
                KvOutput::Ok
            }
            KvInput::Get => KvOutput::Value(state.get(&o.key).cloned()),
        };
        if o.ret.is_some() {
            o.output = Some(out);
        }
    }
    ops
}

#[test]
fn large_histories_are_decided_quickly() {
    // 10 clients x 3000 ops over 10 keys: ~3000 operations per key.
    let h = simulated(7, 10, 10, 3000);
    let t = Instant::now();
    let budget = Budget {
        time: Duration::from_secs(120),
    };
    let r = check(&KvModel, &h, budget);
    eprintln!(
        "{} ops over {} keys ({} unknown) checked in {:?}",
        r.checked,
        r.partitions,
        r.unknown,
        t.elapsed()
    );
    assert_eq!(
        r.verdict,
        Verdict::Linearizable,
        "{:?}",
        r.failures.first().map(|f| &f.result)
    );
    assert!(r.checked > 25_000);

    // Break it: one acknowledged read late in the history sees a value never written.
    let mut bad = h.clone();
    let i = (bad.len() * 3 / 4..bad.len())
        .find(|&i| bad[i].input == KvInput::Get && bad[i].is_known())
        .expect("a read");
    bad[i].output = Some(KvOutput::Value(Some(b"never".to_vec())));
    let t = Instant::now();
    let r = check(&KvModel, &bad, budget);
    eprintln!("the broken one rejected in {:?}", t.elapsed());
    assert_eq!(r.verdict, Verdict::NotLinearizable);
    assert_eq!(r.failures.len(), 1);
    assert_eq!(r.failures[0].key, bad[i].key);
}
