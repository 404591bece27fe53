//! The stele-kv HTTP request parser on arbitrary bytes: a complete request never claims more
//! bytes than it was given, and its body is exactly what it says; the query is percent-decoded
//! as the handlers do.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stele_tools::kv::http::{parse, percent_decode, Parsed};

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(Parsed::Complete(req, _keep, used)) => {
            assert!(used <= data.len(), "consumed more than the buffer");
            assert!(req.body.len() <= used);
            assert_eq!(&data[used - req.body.len()..used], &req.body[..]);
            let _ = percent_decode(&req.path);
            for kv in req.query.split('&') {
                let _ = percent_decode(kv);
            }
        }
        Ok(Parsed::Partial { .. }) => {}
        Err(resp) => assert!(
            resp.status >= 400,
            "an error answer with status {}",
            resp.status
        ),
    }
});
