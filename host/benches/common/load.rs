//! The closed-loop HTTP load generator shared by the server benchmarks.
//!
//! One thread per connection, each a keep-alive HTTP/1.1 connection sending
//! the next request as soon as the answer is read (closed loop), for a
//! fixed time; every request's latency is recorded. Client and server share
//! the machine's cores.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A POST of a JSON `body` to `path` with a bearer token, as bytes on the
/// wire.
pub fn request(path: &str, token: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads one response into `body`; returns its status.
pub fn read_response(reader: &mut BufReader<TcpStream>, body: &mut Vec<u8>) -> u16 {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line
            .to_ascii_lowercase()
            .strip_prefix("content-length:")
            .map(|v| v.trim().to_string())
        {
            length = v.parse().unwrap();
        }
    }
    body.resize(length, 0);
    reader.read_exact(body).unwrap();
    status
}

/// Sends each of `requests` once, in order, over one connection (to fill
/// the server's answer cache before a measurement); every answer must be
/// `200`.
pub fn send_each(addr: SocketAddr, requests: &[Vec<u8>]) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut body = Vec::new();
    for request in requests {
        writer.write_all(request).unwrap();
        let status = read_response(&mut reader, &mut body);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
}

/// What one measurement saw.
pub struct Measured {
    /// Requests answered.
    pub requests: usize,
    /// Wall time of the measurement.
    pub seconds: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
}

impl Measured {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// The same request over `connections` connections for `seconds`.
pub fn load(addr: SocketAddr, request: &[u8], connections: usize, seconds: f64) -> Measured {
    load_mix(addr, &[request.to_vec()], connections, seconds)
}

/// A mix of requests over `connections` connections for `seconds`: each
/// connection goes through `requests` in order, round and round, starting
/// at its own offset, so that the connections together spread over the
/// whole mix. Every answer must be `200`.
pub fn load_mix(
    addr: SocketAddr,
    requests: &[Vec<u8>],
    connections: usize,
    seconds: f64,
) -> Measured {
    let deadline = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let requests = std::sync::Arc::new(requests.to_vec());
    let threads: Vec<_> = (0..connections)
        .map(|c| {
            let requests = std::sync::Arc::clone(&requests);
            std::thread::spawn(move || {
                let stream = TcpStream::connect(addr).unwrap();
                stream.set_nodelay(true).unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                let mut body = Vec::new();
                let mut latencies = Vec::new();
                let mut next = c * requests.len() / connections.max(1);
                let begin = Instant::now();
                while begin.elapsed() < deadline {
                    let request = &requests[next % requests.len()];
                    next += 1;
                    let t = Instant::now();
                    writer.write_all(request).unwrap();
                    let status = read_response(&mut reader, &mut body);
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 - 1.0) * q) as usize];
    Measured {
        requests: all.len(),
        seconds,
        p50: at(0.50),
        p99: at(0.99),
    }
}

/// Two endpoints measured in alternation, `rounds` times each, so that
/// both see the same drift of the machine (other work, frequency, the
/// scheduler): each figure is the median over the rounds.
pub fn compare(
    a: (SocketAddr, &[u8]),
    b: (SocketAddr, &[u8]),
    connections: usize,
    seconds: f64,
    rounds: usize,
) -> (Measured, Measured) {
    let rounds = rounds.max(1);
    let per_round = seconds / rounds as f64;
    let mut of_a = Vec::with_capacity(rounds);
    let mut of_b = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        of_a.push(load(a.0, a.1, connections, per_round));
        of_b.push(load(b.0, b.1, connections, per_round));
    }
    (median(of_a), median(of_b))
}

/// The median of each figure over several measurements.
fn median(all: Vec<Measured>) -> Measured {
    let mid = all.len() / 2;
    let middle = |key: fn(&Measured) -> f64| -> usize {
        let mut order: Vec<usize> = (0..all.len()).collect();
        order.sort_by(|x, y| key(&all[*x]).total_cmp(&key(&all[*y])));
        order[mid]
    };
    let rate = &all[middle(Measured::rate)];
    Measured {
        requests: rate.requests,
        seconds: rate.seconds,
        p50: all[middle(|m| m.p50.as_secs_f64())].p50,
        p99: all[middle(|m| m.p99.as_secs_f64())].p99,
    }
}
