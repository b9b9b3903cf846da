// The AsyncSequence behind `ChatSession.generate` and `ModelStore.downloads`: a Rust call that
// reports through a callback on its own thread, handed over to one consumer. Platform-neutral
// (Foundation's NSCondition and Swift concurrency only).

import Foundation

/// The events of one Rust call that reports through a callback: a generation
/// (`GenerationStream`) or a download (`DownloadStream`).
///
/// Like a Kotlin `Flow`, it is cold: each `for try await` loop over it (each
/// `makeAsyncIterator()`) starts the call anew, and the loop owns it. Leaving the loop
/// (`break`, `return`, a thrown error) or cancelling the task running it cancels the call on
/// the Rust side (a generation stops before its next token, a download at its next chunk); a
/// cancelled task's loop then ends without an error, as an `AsyncStream`'s does. Errors from
/// Rust end the loop with a `BitNetError`.
public struct EventStream<Element: Sendable>: AsyncSequence, Sendable {
    /// Starts the call, feeding the channel; called once per iterator.
    private let start: @Sendable (EventChannel<Element>) -> Void
    private let policy: EventChannel<Element>.Policy

    init(policy: EventChannel<Element>.Policy, start: @escaping @Sendable (EventChannel<Element>) -> Void) {
        self.policy = policy
        self.start = start
    }

    /// Starts the call; it is cancelled once the returned iterator (and every copy of it) is
    /// gone, or the task waiting in `next()` is cancelled.
    public func makeAsyncIterator() -> Iterator {
        let channel = EventChannel<Element>(policy: policy)
        let iterator = Iterator(consumer: Consumer(channel: channel))
        start(channel)
        return iterator
    }

    /// Reads the call's events in order, one caller at a time.
    public struct Iterator: AsyncIteratorProtocol, Sendable {
        fileprivate let consumer: Consumer

        /// The next event; `nil` once the call has ended (or the task was cancelled). Throws the
        /// call's error, once.
        public mutating func next() async throws -> Element? {
            try await consumer.channel.next()
        }
    }

    /// Owned by the iterators: when the last copy goes, so does the consumer.
    fileprivate final class Consumer: Sendable {
        let channel: EventChannel<Element>

        init(channel: EventChannel<Element>) {
            self.channel = channel
        }

        deinit { channel.close() }
    }
}

/// A chat reply: `.text` pieces, `.thermal` changes, then one `.finished`.
public typealias GenerationStream = EventStream<GenerationEvent>

/// A model download: `.progress`, then `.done` with the installed path.
public typealias DownloadStream = EventStream<DownloadEvent>

/// The hand-over between the Rust callback thread (`send`, `finish`) and the consumer
/// (`next`, `close`).
final class EventChannel<Element: Sendable>: @unchecked Sendable {
    enum Policy {
        /// `send` waits while more than `capacity` events are waiting for the consumer
        /// (0: until the consumer has taken this one). Nothing is dropped.
        case wait(capacity: Int)
        /// `send` never waits; beyond `capacity` waiting events the oldest is dropped.
        case dropOldest(capacity: Int)
    }

    private let policy: Policy
    // Guards everything below; producers wait on it for room.
    private let condition = NSCondition()
    private var buffer: [Element] = []
    // The consumer waiting in `next()`, if any.
    private var waiter: CheckedContinuation<Element?, Error>?
    // Set by `finish`: the call ended, with this error if any (delivered once).
    private var ended = false
    private var failure: Error?
    // Set by `close`: the consumer is gone.
    private var closed = false
    // What `close` does while the call runs: cancel it.
    private var onClose: (@Sendable () -> Void)?

    init(policy: Policy) {
        self.policy = policy
    }

    /// Called as the call starts, with what cancels it: run by `close` if the consumer leaves
    /// before the call has ended (under the channel's lock, so never after `finish`). False,
    /// with nothing set, if the consumer has already left: then do not start the call.
    func starting(cancel: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        onClose = cancel
        return true
    }

    /// Hands `element` to the consumer (see `Policy`). False if the consumer is gone: the
    /// element is dropped, and the caller should stop its call.
    func send(_ element: Element) -> Bool {
        condition.lock()
        if closed {
            condition.unlock()
            return false
        }
        if let waiter {
            self.waiter = nil
            condition.unlock()
            waiter.resume(returning: element)
            return true
        }
        buffer.append(element)
        switch policy {
        case .wait(let capacity):
            while buffer.count > capacity && !closed { condition.wait() }
        case .dropOldest(let capacity):
            if buffer.count > capacity { buffer.removeFirst() }
        }
        let open = !closed
        condition.unlock()
        return open
    }

    /// The call ended (with `error`, if any): the consumer gets what is buffered, then `nil` or
    /// the error.
    func finish(_ error: Error? = nil) {
        condition.lock()
        guard !ended else { return condition.unlock() }
        ended = true
        failure = error
        onClose = nil
        // A waiting consumer has nothing buffered: it gets the end now, later ones at `next()`.
        guard let waiter = self.waiter else { return condition.unlock() }
        self.waiter = nil
        let failure = takeFailure()
        condition.unlock()
        if let failure {
            waiter.resume(throwing: failure)
        } else {
            waiter.resume(returning: nil)
        }
    }

    /// The consumer is gone: cancels the call if it still runs, releases a waiting producer
    /// and ends a waiting `next()`. Idempotent.
    func close() {
        condition.lock()
        guard !closed else { return condition.unlock() }
        closed = true
        buffer.removeAll()
        if !ended, let cancel = onClose {
            // Under the lock: `finish` (and so whatever follows the call) waits for it.
            cancel()
        }
        onClose = nil
        let waiter = self.waiter
        self.waiter = nil
        condition.broadcast()
        condition.unlock()
        waiter?.resume(returning: nil)
    }

    /// The next element, `nil` at the end, or the call's error (once).
    func next() async throws -> Element? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Element?, Error>) in
                condition.lock()
                if !buffer.isEmpty {
                    let element = buffer.removeFirst()
                    condition.broadcast()
                    condition.unlock()
                    continuation.resume(returning: element)
                } else if ended || closed {
                    let failure = closed ? nil : takeFailure()
                    condition.unlock()
                    if let failure {
                        continuation.resume(throwing: failure)
                    } else {
                        continuation.resume(returning: nil)
                    }
                } else {
                    precondition(waiter == nil, "an EventStream iterator was used by two tasks at once")
                    waiter = continuation
                    condition.unlock()
                }
            }
        } onCancel: {
            close()
        }
    }

    // Under the lock: the error, the first time only.
    private func takeFailure() -> Error? {
        defer { failure = nil }
        return failure
    }
}

/// Runs the stream generations of each session one after another, in the order their streams
/// started: a generation's Rust call starts once the previous one's has returned. So a
/// consumer that left a stream (which cancels that generation, whose callback may still call
/// `cancel()` once more) and starts the next turn at once cannot have that turn cancelled:
/// it is not running yet.
final class SessionTurns: @unchecked Sendable {
    static let shared = SessionTurns()

    private let lock = NSLock()
    // The last turn queued per session, with its number.
    private var tails: [ObjectIdentifier: (number: UInt64, task: Task<Void, Never>)] = [:]
    private var counter: UInt64 = 0

    /// Runs `turn` after the turns queued earlier for `session`. The queue holds `session`
    /// (through `turn`) until `turn` returns, so its identifier is not reused meanwhile.
    func enqueue(_ session: ChatSession, _ turn: @escaping @Sendable () async -> Void) {
        let key = ObjectIdentifier(session)
        lock.lock()
        defer { lock.unlock() }
        counter += 1
        let number = counter
        let previous = tails[key]?.task
        let task = Task {
            await previous?.value
            await turn()
            self.done(key, number)
        }
        tails[key] = (number, task)
    }

    private func done(_ key: ObjectIdentifier, _ number: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        if tails[key]?.number == number { tails[key] = nil }
    }
}
