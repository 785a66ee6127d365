//! The answer side: what a backend's result becomes on the wire. JSON bodies (relayed as the
//! upstream wrote them, or built and encoded here), server-sent-event streams, and transcripts
//! in each of OpenAI's `response_format`s. Handlers in `routes/` call in here last.

pub mod chat;
pub mod embeddings;
pub mod json;
mod media_usage;
pub mod sse;
pub mod transcript;
pub mod transcript_sse;
