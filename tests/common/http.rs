//! A tiny HTTP/1.1 server on 127.0.0.1 for ftpsync-cron's trace fetch: it answers every GET
//! with the current body (or status), records the paths asked for, and can hang on purpose.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Clone)]
pub enum Reply {
    Ok(String),
    Status(u16),
    /// Accept, read the request, never answer.
    Hang,
}

pub struct HttpServer {
    pub port: u16,
    reply: Arc<Mutex<Reply>>,
    pub paths: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    pub fn start(reply: Reply) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind http server");
        let port = listener.local_addr().unwrap().port();
        let reply = Arc::new(Mutex::new(reply));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, p, s) = (reply.clone(), paths.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut hung: Vec<TcpStream> = Vec::new();
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                p.lock().unwrap().push(path);
                let reply = r.lock().unwrap().clone();
                let response = match reply {
                    Reply::Ok(body) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                    Reply::Status(code) => format!(
                        "HTTP/1.1 {code} Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                    Reply::Hang => {
                        hung.push(conn);
                        continue;
                    }
                };
                let _ = conn.write_all(response.as_bytes());
            }
        });
        HttpServer {
            port,
            reply,
            paths,
            stop,
            thread: Some(thread),
        }
    }

    pub fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A trace file as an upstream would serve it.
pub fn trace_with_serial(serial: &str) -> String {
    format!(
        "Sat Nov 21 10:00:00 UTC 2026\nDate: Sat, 21 Nov 2026 10:00:00 +0000\nArchive serial: {serial}\nCreator: ftpsync 20180513\n"
    )
}
