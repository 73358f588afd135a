use std::io::Result as IoResult;
use std::io::{Read, Write};

use std::sync::{Arc, Mutex};

use self::oneshot::{channel, Receiver, Sender};

use std::mem;

pub struct SequentialReaderBuilder<R>
where
    R: Read + Send,
{
    inner: SequentialReaderBuilderInner<R>,
}

enum SequentialReaderBuilderInner<R>
where
    R: Read + Send,
{
    First(R),
    NotFirst(Receiver<R>),
}

pub struct SequentialReader<R>
where
    R: Read + Send,
{
    inner: SequentialReaderInner<R>,
    next: Sender<R>,
}

enum SequentialReaderInner<R>
where
    R: Read + Send,
{
    MyTurn(R),
    Waiting(Receiver<R>),
    Empty,
}

pub struct SequentialWriterBuilder<W>
where
    W: Write + Send,
{
    writer: Arc<Mutex<W>>,
    next_trigger: Option<Receiver<()>>,
}

pub struct SequentialWriter<W>
where
    W: Write + Send,
{
    trigger: Option<Receiver<()>>,
    writer: Arc<Mutex<W>>,
    on_finish: Sender<()>,
}

impl<R: Read + Send> SequentialReaderBuilder<R> {
    pub fn new(reader: R) -> SequentialReaderBuilder<R> {
        SequentialReaderBuilder {
            inner: SequentialReaderBuilderInner::First(reader),
        }
    }
}

impl<W: Write + Send> SequentialWriterBuilder<W> {
    pub fn new(writer: W) -> SequentialWriterBuilder<W> {
        SequentialWriterBuilder {
            writer: Arc::new(Mutex::new(writer)),
            next_trigger: None,
        }
    }
}

impl<R: Read + Send> Iterator for SequentialReaderBuilder<R> {
    type Item = SequentialReader<R>;

    fn next(&mut self) -> Option<SequentialReader<R>> {
        let (tx, rx) = channel();

        let inner = mem::replace(&mut self.inner, SequentialReaderBuilderInner::NotFirst(rx));

        match inner {
            SequentialReaderBuilderInner::First(reader) => Some(SequentialReader {
                inner: SequentialReaderInner::MyTurn(reader),
                next: tx,
            }),

            SequentialReaderBuilderInner::NotFirst(previous) => Some(SequentialReader {
                inner: SequentialReaderInner::Waiting(previous),
                next: tx,
            }),
        }
    }
}

impl<W: Write + Send> Iterator for SequentialWriterBuilder<W> {
    type Item = SequentialWriter<W>;
    fn next(&mut self) -> Option<SequentialWriter<W>> {
        let (tx, rx) = channel();
        let mut next_next_trigger = Some(rx);
        ::std::mem::swap(&mut next_next_trigger, &mut self.next_trigger);

        Some(SequentialWriter {
            trigger: next_next_trigger,
            writer: self.writer.clone(),
            on_finish: tx,
        })
    }
}

impl<T: Read + Send> SequentialReader<std::io::BufReader<T>> {
    /// hubshare patch: `BufRead::fill_buf` of the reader, once it is this
    /// reader's turn (so a request's header lines are scanned in the
    /// buffer, not read a byte at a time).
    pub fn fill_buf(&mut self) -> IoResult<&[u8]> {
        use std::io::BufRead;
        self.turn().fill_buf()
    }

    /// hubshare patch: `BufRead::consume`, after [`fill_buf`](Self::fill_buf).
    pub fn consume(&mut self, n: usize) {
        use std::io::BufRead;
        if let SequentialReaderInner::MyTurn(ref mut reader) = self.inner {
            reader.consume(n);
        }
    }

    /// hubshare patch: whether the next read is served from the buffer
    /// (so it cannot wait for the client).
    pub fn has_buffered(&self) -> bool {
        match self.inner {
            SequentialReaderInner::MyTurn(ref reader) => !reader.buffer().is_empty(),
            _ => false,
        }
    }
}

impl<R: Read + Send> SequentialReader<R> {
    /// hubshare patch: the reader, once the previous request has given it
    /// back (shared by `read` and `fill_buf`).
    fn turn(&mut self) -> &mut R {
        if let SequentialReaderInner::Waiting(ref mut recv) = self.inner {
            let reader = recv.recv().unwrap();
            self.inner = SequentialReaderInner::MyTurn(reader);
        }
        match self.inner {
            SequentialReaderInner::MyTurn(ref mut reader) => reader,
            _ => unreachable!(),
        }
    }
}

impl<R: Read + Send> Read for SequentialReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        self.turn().read(buf)
    }
}

impl<W: Write + Send> Write for SequentialWriter<W> {
    fn write(&mut self, buf: &[u8]) -> IoResult<usize> {
        if let Some(v) = self.trigger.as_mut() {
            v.recv().unwrap()
        }
        self.trigger = None;

        self.writer.lock().unwrap().write(buf)
    }

    fn flush(&mut self) -> IoResult<()> {
        if let Some(v) = self.trigger.as_mut() {
            v.recv().unwrap()
        }
        self.trigger = None;

        self.writer.lock().unwrap().flush()
    }
}

impl<R> Drop for SequentialReader<R>
where
    R: Read + Send,
{
    fn drop(&mut self) {
        let inner = mem::replace(&mut self.inner, SequentialReaderInner::Empty);

        match inner {
            SequentialReaderInner::MyTurn(reader) => {
                self.next.send(reader).ok();
            }
            SequentialReaderInner::Waiting(recv) => {
                let reader = recv.recv().unwrap();
                self.next.send(reader).ok();
            }
            SequentialReaderInner::Empty => (),
        }
    }
}

impl<W> Drop for SequentialWriter<W>
where
    W: Write + Send,
{
    fn drop(&mut self) {
        self.on_finish.send(()).ok();
    }
}

/// hubshare patch: a one-time hand-off in place of an mpsc channel. Two
/// were made per request; each cost a list channel and, at its first send,
/// a block of 31 slots.
mod oneshot {
    use std::sync::{Arc, Condvar, Mutex, MutexGuard};

    enum State<T> {
        Empty,
        Full(T),
        /// Taken by the receiver, or the sender went without sending.
        Done,
    }

    struct Slot<T> {
        state: Mutex<State<T>>,
        ready: Condvar,
    }

    impl<T> Slot<T> {
        fn locked(&self) -> MutexGuard<'_, State<T>> {
            self.state.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    pub struct Sender<T>(Arc<Slot<T>>);
    pub struct Receiver<T>(Arc<Slot<T>>);

    /// The receiving side's sender went without sending.
    #[derive(Debug)]
    pub struct Disconnected;

    pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
        let slot = Arc::new(Slot {
            state: Mutex::new(State::Empty),
            ready: Condvar::new(),
        });
        (Sender(slot.clone()), Receiver(slot))
    }

    impl<T> Sender<T> {
        /// Hands `value` over; a second send gives it back.
        pub fn send(&self, value: T) -> Result<(), T> {
            let mut st = self.0.locked();
            if !matches!(*st, State::Empty) {
                return Err(value);
            }
            *st = State::Full(value);
            drop(st);
            self.0.ready.notify_one();
            Ok(())
        }
    }

    impl<T> Drop for Sender<T> {
        fn drop(&mut self) {
            let mut st = self.0.locked();
            if matches!(*st, State::Empty) {
                *st = State::Done;
                drop(st);
                self.0.ready.notify_one();
            }
        }
    }

    impl<T> Receiver<T> {
        /// Waits for the value; `Disconnected` if the sender went without
        /// one (or it was taken already).
        pub fn recv(&self) -> Result<T, Disconnected> {
            let mut st = self.0.locked();
            while matches!(*st, State::Empty) {
                st = self.0.ready.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            match std::mem::replace(&mut *st, State::Done) {
                State::Full(value) => Ok(value),
                _ => Err(Disconnected),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::channel;

        #[test]
        fn hands_over_once_across_threads_and_reports_a_sender_gone() {
            let (tx, rx) = channel();
            let t = std::thread::spawn(move || rx.recv().unwrap());
            tx.send(7).unwrap();
            assert_eq!(tx.send(8), Err(8));
            assert_eq!(t.join().unwrap(), 7);
            let (tx, rx) = channel::<u8>();
            drop(tx);
            assert!(rx.recv().is_err());
        }
    }
}
