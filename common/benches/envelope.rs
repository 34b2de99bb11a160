//! `cargo bench -p ferry-common`: envelope throughput per chunk size, and Argon2id time at
//! the default parameters. Figures and how to read them: BENCHMARKS.md.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ferry_common::{Header, KdfParams, Keys, LinkSecret, StreamDecryptor, StreamEncryptor};

const TOTAL: usize = 16 * 1024 * 1024;

fn setup(chunk_size: u32) -> (Keys, Header) {
    let header = Header {
        passphrase_only: false,
        kdf: KdfParams::FLOOR,
        salt: [1; 16],
        chunk_size,
    };
    let keys = Keys::derive(&header, "bench", Some(&LinkSecret::from_bytes([2; 16]))).unwrap();
    (keys, header)
}

fn stream(c: &mut Criterion) {
    let mut group = c.benchmark_group("stream");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    group.sample_size(10);
    let data = vec![0x5au8; TOTAL];
    for cs in [64 * 1024u32, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024] {
        let (keys, header) = setup(cs);
        let chunks: Vec<&[u8]> = data.chunks(cs as usize).collect();
        group.bench_with_input(BenchmarkId::new("encrypt", cs / 1024), &cs, |b, _| {
            b.iter(|| {
                let mut enc = StreamEncryptor::new(&keys.payload, &header);
                for (i, c) in chunks.iter().enumerate() {
                    std::hint::black_box(enc.seal_chunk(c, i + 1 == chunks.len()).unwrap());
                }
            })
        });
        let mut enc = StreamEncryptor::new(&keys.payload, &header);
        let sealed: Vec<Vec<u8>> = chunks
            .iter()
            .enumerate()
            .map(|(i, c)| enc.seal_chunk(c, i + 1 == chunks.len()).unwrap())
            .collect();
        group.bench_with_input(BenchmarkId::new("decrypt", cs / 1024), &cs, |b, _| {
            b.iter(|| {
                let mut dec = StreamDecryptor::new(&keys.payload, &header);
                for (i, c) in sealed.iter().enumerate() {
                    std::hint::black_box(dec.open_chunk(c, i + 1 == sealed.len()).unwrap());
                }
                dec.finish().unwrap();
            })
        });
    }
    group.finish();
}

fn kdf(c: &mut Criterion) {
    let mut group = c.benchmark_group("kdf");
    group.sample_size(10);
    let secret = LinkSecret::from_bytes([2; 16]);
    // The default, and the floor: the cheapest guess a header may ask for (FORMAT.md §2).
    for (name, kdf) in [
        ("argon2id-64MiB-t3-p1", KdfParams::DEFAULT),
        ("argon2id-19MiB-t2-p1-floor", KdfParams::FLOOR),
    ] {
        let header = Header {
            passphrase_only: false,
            kdf,
            salt: [1; 16],
            chunk_size: 262_144,
        };
        group.bench_function(name, |b| {
            b.iter(|| Keys::derive(&header, "correct horse", Some(&secret)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, stream, kdf);
criterion_main!(benches);
