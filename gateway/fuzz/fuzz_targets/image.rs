//! libFuzzer target: normalize_image under a tight policy (2048 px per side, 1 Mpx in; PNG/JPEG/tensor out; every fit mode and detail).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    omnigate_fuzz::Target::Image.run(data);
});
