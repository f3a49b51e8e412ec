//! The per-archive state record (LOGDIR/NAME.state.json) read by `status`: any bytes in it
//! must give an error or a State, never a panic; a State must serialize back.
#![no_main]

use archvsync::common::state::State;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = serde_json::from_slice::<State>(data) {
        let out = serde_json::to_vec(&s).expect("a loaded state serializes");
        let _: State = serde_json::from_slice(&out).expect("and reads back");
    }
});
