//! Fetches that never touch the network: `data:` and `file:` URLs and refused schemes.

use std::path::Path;

use omnigate_fetch::{FetchError, FetchPolicy, Fetcher, Source};

/// `file://` + the absolute path (temp paths need no escaping).
fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn rooted(root: &Path) -> FetchPolicy {
    FetchPolicy {
        file_root: Some(root.to_owned()),
        ..FetchPolicy::default()
    }
}

#[tokio::test]
async fn data_urls() {
    let fetcher = Fetcher::new().unwrap();
    let policy = FetchPolicy::default();
    let got = fetcher
        .fetch("data:image/png;base64,aGVsbG8", &policy)
        .await
        .unwrap();
    assert_eq!(&got.bytes[..], b"hello");
    assert_eq!(got.media_type.as_deref(), Some("image/png"));
    assert_eq!(got.source, Source::Data);
    let got = fetcher.fetch("  DATA:,a%2Cb  ", &policy).await.unwrap();
    assert_eq!(&got.bytes[..], b"a,b");

    let err = fetcher
        .fetch("data:image/png;base64,!!!!", &policy)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::InvalidData { .. }), "{err:?}");
    assert!(err.to_string().contains("not valid base64"), "{err}");

    let small = FetchPolicy {
        max_bytes: 4,
        ..FetchPolicy::default()
    };
    let err = fetcher
        .fetch("data:;base64,aGVsbG8=", &small)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { limit: 4 }), "{err:?}");
}

#[tokio::test]
async fn large_data_urls_decode_the_same_on_the_blocking_pool() {
    use base64::Engine as _;
    let fetcher = Fetcher::new().unwrap();
    let policy = FetchPolicy::default();
    // Small ones are decoded in place, ones over 64 KiB of text on the blocking pool.
    for len in [5usize, 200_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let encoded = base64::engine::general_purpose::STANDARD.encode(&payload);
        let got = fetcher
            .fetch(format!(" data:audio/wav;base64,{encoded}"), &policy)
            .await
            .unwrap();
        assert_eq!(&got.bytes[..], &payload[..], "{len}");
        assert_eq!(got.media_type.as_deref(), Some("audio/wav"));
        assert_eq!(got.source, Source::Data);
        let small = FetchPolicy {
            max_bytes: len - 1,
            ..FetchPolicy::default()
        };
        let err = fetcher
            .fetch(format!("data:;base64,{encoded}"), &small)
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::TooLarge { .. }), "{len}: {err:?}");
    }
    let err = fetcher
        .fetch(format!("DATA:;base64,{}", "!".repeat(100_000)), &policy)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::InvalidData { .. }), "{err:?}");
}

#[tokio::test]
async fn unknown_and_malformed_schemes() {
    let fetcher = Fetcher::new().unwrap();
    let policy = FetchPolicy::default();
    for (url, scheme) in [
        ("ftp://127.0.0.1/x", "ftp"),
        ("gopher://127.0.0.1:70/", "gopher"),
        ("JavaScript:alert(1)", "javascript"),
        ("blob:https://a/b", "blob"),
    ] {
        let err = fetcher.fetch(url, &policy).await.unwrap_err();
        assert!(
            matches!(&err, FetchError::SchemeNotAllowed { scheme: s } if s == scheme),
            "{url}: {err:?}"
        );
        assert!(err.to_string().contains(scheme), "{err}");
    }
    for url in ["", "/etc/passwd", "no scheme", "http://", "https://[::1/"] {
        let err = fetcher.fetch(url, &policy).await.unwrap_err();
        assert!(
            matches!(err, FetchError::InvalidUrl { .. }),
            "{url:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn file_urls_need_a_root() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.bin");
    std::fs::write(&path, b"abc").unwrap();
    let err = Fetcher::new()
        .unwrap()
        .fetch(&file_url(&path), &FetchPolicy::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::SchemeNotAllowed { ref scheme } if scheme == "file"),
        "{err:?}"
    );
}

#[tokio::test]
async fn file_urls_inside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/a.bin"), b"abc").unwrap();
    std::os::unix::fs::symlink(root.join("sub/a.bin"), root.join("inner-link")).unwrap();
    let fetcher = Fetcher::new().unwrap();

    let got = fetcher
        .fetch(&file_url(&root.join("sub/a.bin")), &rooted(&root))
        .await
        .unwrap();
    assert_eq!(&got.bytes[..], b"abc");
    assert_eq!(got.source, Source::File);
    // `..` that stays inside, and a link that stays inside, are fine.
    let url = format!("{}/sub/../sub/a.bin", file_url(&root));
    assert_eq!(
        &fetcher.fetch(&url, &rooted(&root)).await.unwrap().bytes[..],
        b"abc"
    );
    let got = fetcher
        .fetch(&file_url(&root.join("inner-link")), &rooted(&root))
        .await
        .unwrap();
    assert_eq!(&got.bytes[..], b"abc");
    // The root may be configured through a symlink.
    std::os::unix::fs::symlink(&root, dir.path().join("root-link")).unwrap();
    let via_link = rooted(&dir.path().join("root-link"));
    let url = file_url(&dir.path().join("root-link/sub/a.bin"));
    assert_eq!(
        &fetcher.fetch(&url, &via_link).await.unwrap().bytes[..],
        b"abc"
    );

    let small = FetchPolicy {
        max_bytes: 2,
        ..rooted(&root)
    };
    let err = fetcher
        .fetch(&file_url(&root.join("sub/a.bin")), &small)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { limit: 2 }), "{err:?}");

    for missing in [root.join("nope"), root.join("sub")] {
        let err = fetcher
            .fetch(&file_url(&missing), &rooted(&root))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::NotFound), "{missing:?}: {err:?}");
    }
}

#[tokio::test]
async fn file_urls_cannot_escape_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(dir.path().join("root-evil")).unwrap();
    std::fs::write(dir.path().join("secret"), b"s3cret").unwrap();
    std::fs::write(dir.path().join("root-evil/x"), b"s3cret").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
    std::os::unix::fs::symlink(dir.path(), root.join("dirlink")).unwrap();
    let fetcher = Fetcher::new().unwrap();
    let base = file_url(&root);

    for url in [
        format!("{base}/../secret"),
        format!("{base}/%2e%2e/secret"),
        format!("{base}/..%2Fsecret"),
        format!("{base}/sub%2F..%2F..%2Fsecret"),
        format!("{base}/../root-evil/x"),
        format!("{base}/link"),
        format!("{base}/dirlink/secret"),
        "file:///etc/passwd".to_owned(),
    ] {
        let err = fetcher.fetch(&url, &rooted(&root)).await.unwrap_err();
        assert!(matches!(err, FetchError::PathNotAllowed), "{url}: {err:?}");
    }
    // Outside the root, existence is not revealed.
    let err = fetcher
        .fetch(&format!("{base}/../missing"), &rooted(&root))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::PathNotAllowed), "{err:?}");
    // Remote file hosts are not local paths.
    let err = fetcher
        .fetch("file://fileserver/share/x", &rooted(&root))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::InvalidUrl { .. }), "{err:?}");
}

#[tokio::test]
async fn inline_base64_follows_the_data_url_rules() {
    use base64::Engine as _;
    assert_eq!(
        &omnigate_fetch::decode_base64("aGVs\r\nbG8".into(), 5)
            .await
            .unwrap()[..],
        b"hello"
    );
    let err = omnigate_fetch::decode_base64("aGVsbG8=".into(), 4)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { limit: 4 }), "{err:?}");
    let err = omnigate_fetch::decode_base64("%%%".into(), 100)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::InvalidData { .. }), "{err:?}");
    // Over 64 KiB of text: decoded on the blocking pool, the same bytes.
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let text = base64::engine::general_purpose::STANDARD.encode(&payload);
    let decoded = omnigate_fetch::decode_base64(text, payload.len())
        .await
        .unwrap();
    assert_eq!(&decoded[..], &payload[..]);
}
