//! libFuzzer target: normalize_audio (at most 30 s; 8/16/48 kHz; mono or kept channels; several hints).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    omnigate_fuzz::Target::Audio.run(data);
});
