//! libFuzzer target: omnigate_video::fuzz_entry (probe, then two frames sampled under tight caps).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    omnigate_fuzz::Target::Video.run(data);
});
