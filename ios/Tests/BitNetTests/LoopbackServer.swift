// A loopback HTTP/1.1 server for StoreTests, on POSIX sockets (Foundation has no HTTP server on
// Linux; StoreTest.kt uses the JDK's): it serves one file at /model.gguf with `Range: bytes=N-`
// support, in 16 KiB chunks, optionally slowly, with a flipped byte or with an error status,
// and records each request's Range header. One thread per connection.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class LoopbackServer: @unchecked Sendable {
    /// What the server does with the next requests.
    struct Behaviour {
        /// The status sent (with no body) instead of the file, if not 200.
        var status = 200
        /// The offset of a byte sent flipped, if any.
        var corruptAt: Int?
        /// A pause after each 16 KiB chunk, in ms.
        var delayMs = 0
    }

    let port: UInt16
    private let body: [UInt8]
    private let listener: Int32
    private let lock = NSLock()
    private var behaviour = Behaviour()
    private var requested: [String?] = []

    init(serving body: [UInt8]) throws {
        self.body = body
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw POSIXError(errno) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        #if canImport(Darwin)
        address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw -> Bool in
                bind(fd, raw, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else {
            let error = POSIXError(errno)
            close(fd)
            throw error
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    var url: String { "http://127.0.0.1:\(port)/model.gguf" }

    /// Sets what the next requests get and forgets the recorded ranges.
    func reset(_ behaviour: Behaviour = Behaviour()) {
        lock.lock()
        defer { lock.unlock() }
        self.behaviour = behaviour
        requested = []
    }

    /// The Range header of each request since the last reset (nil: none).
    var ranges: [String?] {
        lock.lock()
        defer { lock.unlock() }
        return requested
    }

    /// Stops accepting (connections in progress end with their response).
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return
            }
            #if canImport(Darwin)
            var yes: Int32 = 1
            setsockopt(connection, SOL_SOCKET, SO_NOSIGPIPE, &yes, socklen_t(MemoryLayout<Int32>.size))
            #endif
            let thread = Thread { [self] in serve(connection) }
            thread.start()
        }
    }

    private func serve(_ connection: Int32) {
        defer { close(connection) }
        guard let head = readHead(connection) else { return }
        let lines = head.components(separatedBy: "\r\n")
        let range = lines.dropFirst().first { $0.lowercased().hasPrefix("range:") }
            .map { $0.dropFirst("range:".count).trimmingCharacters(in: .whitespaces) }
        lock.lock()
        requested.append(range)
        let behaviour = self.behaviour
        lock.unlock()
        guard behaviour.status == 200 else {
            _ = sendAll(connection, "HTTP/1.1 \(behaviour.status) Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        }
        let start = range.flatMap { Int($0.dropFirst("bytes=".count).dropLast()) } ?? 0
        var header = start > 0 ? "HTTP/1.1 206 Partial Content\r\n" : "HTTP/1.1 200 OK\r\n"
        if start > 0 { header += "Content-Range: bytes \(start)-\(body.count - 1)/\(body.count)\r\n" }
        header += "Content-Length: \(body.count - start)\r\nConnection: close\r\n\r\n"
        guard sendAll(connection, header) else { return }
        var at = start
        while at < body.count {
            let end = min(at + 16384, body.count)
            var chunk = Array(body[at..<end])
            if let corrupt = behaviour.corruptAt, (at..<end).contains(corrupt) { chunk[corrupt - at] ^= 0xff }
            // The client went away (a cancelled download).
            guard sendAll(connection, chunk) else { return }
            at = end
            if behaviour.delayMs > 0 { usleep(useconds_t(behaviour.delayMs * 1000)) }
        }
    }

    /// The request line and headers (up to the blank line).
    private func readHead(_ connection: Int32) -> String? {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while bytes.count < 65536 {
            let n = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            bytes += buffer[0..<n]
            if let text = String(bytes: bytes, encoding: .utf8), let end = text.range(of: "\r\n\r\n") {
                return String(text[..<end.lowerBound])
            }
        }
        return nil
    }

    private func sendAll(_ connection: Int32, _ text: String) -> Bool {
        sendAll(connection, Array(text.utf8))
    }

    /// Sends all of `bytes`; false once the peer is gone.
    private func sendAll(_ connection: Int32, _ bytes: [UInt8]) -> Bool {
        #if canImport(Glibc)
        let flags = Int32(MSG_NOSIGNAL)
        #else
        let flags: Int32 = 0
        #endif
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(connection, $0.baseAddress! + sent, bytes.count - sent, flags) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }
}

private extension POSIXError {
    init(_ code: Int32) {
        self.init(POSIXErrorCode(rawValue: code) ?? .EIO)
    }
}
