//! A loopback HTTP/1.1 file server for the download tests, with fault injection: it serves
//! one body with `Range` support and can drop a connection at a byte offset, stall, ignore
//! `Range`, answer an error status, corrupt a byte or throttle, and it logs each request's
//! range.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does with the next requests; set through [`Server::set`].
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Close the connection once the body has been sent up to this byte offset (one time:
    /// cleared when it fires).
    pub drop_at: Option<u64>,
    /// Stop sending at this byte offset and hold the connection open (every request).
    pub stall_at: Option<u64>,
    /// Answer every request with the whole body (status 200), as servers without `Range`
    /// support do.
    pub ignore_range: bool,
    /// Answer every request with this status and an empty body.
    pub status: Option<u16>,
    /// Send this byte offset with its bits flipped.
    pub corrupt_at: Option<u64>,
    /// Pause this long after each 16 KiB chunk.
    pub chunk_delay: Option<Duration>,
}

/// The server; it runs until the test process ends.
pub struct Server {
    url: String,
    behaviour: Arc<Mutex<Behaviour>>,
    ranges: Arc<Mutex<Vec<Option<u64>>>>,
}

impl Server {
    /// Serves `body` on 127.0.0.1 at a free port.
    pub fn start(body: Vec<u8>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let url = format!("http://{}/model.gguf", listener.local_addr().unwrap());
        let body = Arc::new(body);
        let behaviour = Arc::new(Mutex::new(Behaviour::default()));
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let (b, r) = (Arc::clone(&behaviour), Arc::clone(&ranges));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (body, b, r) = (Arc::clone(&body), Arc::clone(&b), Arc::clone(&r));
                std::thread::spawn(move || {
                    let _ = serve(stream, &body, &b, &r);
                });
            }
        });
        Server {
            url,
            behaviour,
            ranges,
        }
    }

    /// The body's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Replaces the behaviour for the next requests.
    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    /// The start offset each request asked for (`None` = no `Range` header), in order.
    pub fn ranges(&self) -> Vec<Option<u64>> {
        self.ranges.lock().unwrap().clone()
    }
}

fn serve(
    stream: TcpStream,
    body: &[u8],
    behaviour: &Mutex<Behaviour>,
    ranges: &Mutex<Vec<Option<u64>>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(spec) = lower.strip_prefix("range: bytes=") {
            range = spec.trim().trim_end_matches('-').parse::<u64>().ok();
        }
    }
    ranges.lock().unwrap().push(range);
    let now = behaviour.lock().unwrap().clone();
    let mut out = stream;
    if let Some(status) = now.status {
        write!(
            out,
            "HTTP/1.1 {status} Injected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return Ok(());
    }
    let len = body.len() as u64;
    let start = match range {
        Some(start) if !now.ignore_range && start < len => start,
        Some(_) if !now.ignore_range => {
            write!(
                out,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            return Ok(());
        }
        _ => 0,
    };
    if start > 0 {
        write!(
            out,
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{len}\r\n",
            len - 1
        )?;
    } else {
        write!(out, "HTTP/1.1 200 OK\r\n")?;
    }
    write!(
        out,
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        len - start
    )?;
    let mut at = start;
    while at < len {
        if now.stall_at == Some(at) {
            std::thread::sleep(Duration::from_secs(3600));
        }
        let mut end = (at + (16 << 10)).min(len);
        let drop_at = behaviour.lock().unwrap().drop_at;
        for cut in [drop_at, now.stall_at].into_iter().flatten() {
            if cut > at {
                end = end.min(cut);
            }
        }
        let mut chunk = body[at as usize..end as usize].to_vec();
        if let Some(c) = now.corrupt_at.filter(|&c| (at..end).contains(&c)) {
            chunk[(c - at) as usize] ^= 0xff;
        }
        out.write_all(&chunk)?;
        at = end;
        if drop_at == Some(at) {
            behaviour.lock().unwrap().drop_at = None;
            return Ok(()); // dropped: the client sees the body end early
        }
        if let Some(delay) = now.chunk_delay {
            std::thread::sleep(delay);
        }
    }
    Ok(())
}
