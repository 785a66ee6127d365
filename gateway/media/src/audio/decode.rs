//! The decode loop: packets from the demuxer, through the right decoder, into the [`Sink`]
//! (which mixes down and resamples each as it comes).
//! It stops with an error as soon as the duration cap is passed, so a lying header costs at most
//! `max_seconds` of decoding.

use symphonia::core::codecs::audio::well_known::{CODEC_ID_AAC, CODEC_ID_MP3, CODEC_ID_OPUS};
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::packet::Packet;

use super::policy::AudioPolicy;
use super::priming;
use super::probe::{Probed, check_rate, symphonia_error};
use super::sink::{Collected, Gapless, Sink, Trim};
use crate::error::{MediaError, MediaKind};

/// A few undecodable packets (a damaged frame in a long recording) are skipped, as players do;
/// more than this means the file is broken.
const MAX_BAD_PACKETS: u32 = 3;

/// Decoded audio plus how its start was trimmed.
pub(crate) struct Decoded {
    pub collected: Collected,
    pub gapless: Gapless,
}

enum TrackDecoder {
    Symphonia(SymphoniaTrack),
    #[cfg(feature = "opus")]
    Opus(super::opus::OpusTrackDecoder),
}

/// Decodes the probed track under the policy's duration cap.
pub(crate) fn decode(
    probed: &mut Probed<'_>,
    bytes: &[u8],
    policy: &AudioPolicy,
) -> Result<Decoded, MediaError> {
    let (mut decoder, gapless) = make_decoder(probed, bytes)?;
    let mut sink = Sink::new(
        policy.channels,
        policy.max_seconds,
        probed.declared_seconds,
        gapless,
        policy.sample_rate,
    );
    let track_id = probed.track.id;
    let mut bad_packets = 0;
    loop {
        let packet = match probed.format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(truncated(&sink, probed.declared_seconds));
            }
            Err(e) => return Err(symphonia_error(e)),
        };
        if packet.track_id != track_id {
            continue;
        }
        match decode_packet(&mut decoder, &packet, &mut sink) {
            Err(MediaError::Corrupt { .. }) if bad_packets < MAX_BAD_PACKETS => bad_packets += 1,
            other => other?,
        }
    }
    Ok(Decoded {
        collected: sink.finish()?,
        gapless,
    })
}

struct SymphoniaTrack {
    decoder: Box<dyn AudioDecoder>,
    /// Whether the decoder applies packet trims itself (gapless mode).
    own_trims: bool,
    /// Reused for each packet's interleaved f32 samples.
    interleaved: Vec<f32>,
}

fn packet_trim(packet: &Packet) -> Trim {
    Trim {
        start: packet.trim_start.get(),
        end: packet.trim_end.get(),
    }
}

fn truncated(sink: &Sink, declared: Option<f64>) -> MediaError {
    let detail = match declared {
        Some(d) => format!(
            "the file ends early (it declares {d:.2} s, {} frames were found)",
            sink.frames()
        ),
        None => "the file ends in the middle of a packet (truncated)".to_owned(),
    };
    MediaError::corrupt(MediaKind::Audio, detail)
}

fn decode_packet(
    decoder: &mut TrackDecoder,
    packet: &Packet,
    sink: &mut Sink,
) -> Result<(), MediaError> {
    match decoder {
        TrackDecoder::Symphonia(d) => {
            let buffer = d.decoder.decode(packet).map_err(symphonia_error)?;
            let spec = buffer.spec();
            let (rate, channels) = (spec.rate(), spec.channels().count());
            check_rate(rate)?;
            // One buffer for the whole stream: a fresh Vec per packet was an allocation and a
            // page-faulting first touch for every 1152 MP3 frames.
            buffer.copy_to_vec_interleaved::<f32>(&mut d.interleaved);
            // Decoders built without gapless mode leave the demuxer's trims to the sink, which
            // can tell real padding from a length the header got wrong.
            let trim = if d.own_trims {
                Trim::default()
            } else {
                packet_trim(packet)
            };
            sink.push(&d.interleaved, channels, rate, trim)
        }
        #[cfg(feature = "opus")]
        TrackDecoder::Opus(d) => {
            let channels = d.channels();
            let samples = d.decode(&packet.data)?;
            // Ogg marks the end padding on the last packets. The start (pre-skip) is dropped by
            // the sink, from the OpusHead, since no demuxer marks it.
            let trim = Trim {
                start: 0,
                end: packet.trim_end.get(),
            };
            sink.push(samples, channels, super::opus::OPUS_RATE, trim)
        }
    }
}

fn make_decoder(
    probed: &mut Probed<'_>,
    bytes: &[u8],
) -> Result<(TrackDecoder, Gapless), MediaError> {
    let params = &probed.params;
    if params.codec == CODEC_ID_OPUS {
        return opus_decoder(probed);
    }
    // Symphonia's MP3 demuxer estimates a missing length from the first frames' bitrate and marks
    // everything past it as padding; the sink, not the decoder, decides whether to believe that.
    // Other decoders trim what their demuxers mark (Vorbis also needs gapless mode to drop its
    // warm-up block correctly).
    let own_trims = params.codec != CODEC_ID_MP3;
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default().gapless(own_trims))
        .map_err(symphonia_error)?;
    let gapless = if params.codec == CODEC_ID_AAC {
        let rate = params.sample_rate.unwrap_or(44_100);
        priming::aac_gapless(&probed.track, probed.format.as_mut(), bytes, rate)
    } else if let Some(delay) = probed.track.delay {
        // Symphonia's demuxers mark the delay on packets and its decoders drop it (gapless mode).
        Gapless {
            skip: 0,
            keep: None,
            source: if delay > 0 { "container" } else { "none" },
        }
    } else {
        Gapless::NONE
    };
    Ok((
        TrackDecoder::Symphonia(SymphoniaTrack {
            decoder,
            own_trims,
            interleaved: Vec::new(),
        }),
        gapless,
    ))
}

#[cfg(feature = "opus")]
fn opus_decoder(probed: &Probed<'_>) -> Result<(TrackDecoder, Gapless), MediaError> {
    let extra = probed.params.extra_data.as_deref().unwrap_or_default();
    let head = super::opus::parse_head(extra)?;
    let decoder = super::opus::OpusTrackDecoder::new(&head)?;
    // Neither Symphonia's Ogg nor its Matroska demuxer trims the pre-skip (they leave it to an
    // Opus decoder they do not have), so it is dropped here.
    let gapless = Gapless {
        skip: u64::from(head.pre_skip),
        keep: None,
        source: "OpusHead",
    };
    Ok((TrackDecoder::Opus(decoder), gapless))
}

#[cfg(not(feature = "opus"))]
fn opus_decoder(_: &Probed<'_>) -> Result<(TrackDecoder, Gapless), MediaError> {
    Err(MediaError::unsupported(
        MediaKind::Audio,
        "opus audio (this build has no Opus decoder: enable the `opus` feature)",
    ))
}
