import Foundation
import Hummingbird
import NIOCore
import Store

/// The read-only dataset browser: Hummingbird routes over `BrowserPages`. Only GET and HEAD are
/// answered (anything else is 405); shards are opened read-only; no request names a file path (shards
/// by index, frames by row id), so nothing outside the output folder can be reached.
public final class Browser: @unchecked Sendable {
    /// One SQLite connection per shard, used by one request at a time: SQLite handles opened
    /// NOMUTEX must not be shared across threads, and a local browser does not need parallel queries.
    private let lock = NSLock()
    private var pages: BrowserPages
    /// Left when the start-up computation of histograms and counts is over (done or failed).
    private let warmed = DispatchGroup()

    public init(directory: URL) throws {
        pages = BrowserPages(reader: try DatasetReader(directory: directory))
        // Histograms and counts scan every score and pair (seconds on a million pairs): compute them
        // at start on separate read-only connections, so no page waits for them behind the lock.
        warmed.enter()
        let warm = Thread { [weak self, warmed] in
            defer { warmed.leave() }
            guard let reader = try? DatasetReader(directory: directory),
                  let h = try? reader.histograms(), let c = try? reader.pairCounts() else { return }
            self?.withPages { $0.setCaches(histograms: h, counts: c) }
        }
        warm.qualityOfService = .utility
        warm.start()
    }

    /// Form values from the raw query: `+` is a space in HTML form encoding, and only the raw string
    /// can tell it from an encoded plus (`%2B`).
    static func formValues(_ query: String?) -> [String: String] {
        var values: [String: String] = [:]
        for part in (query ?? "").split(separator: "&") {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            guard let k = kv.first else { continue }
            let key = decode(k)
            if values[key] == nil { values[key] = kv.count > 1 ? decode(kv[1]) : "" }
        }
        return values
    }

    func withPages<T>(_ body: (inout BrowserPages) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&pages)
    }

    static func html(_ s: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: s)))
    }

    static let notFound = html(HTML.page(title: "not found", body: "<h2>Not found</h2>"), status: .notFound)

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { request, _ in
            let form = Self.formValues(request.uri.query)
            let q = BrowserPages.GridQuery { form[$0] }
            return try self.withPages { Self.html(try $0.grid(q)) }
        }
        router.get("/source/:shard/:id") { _, context in
            guard let shard = context.parameters.get("shard", as: Int.self), let id = context.parameters.get("id", as: Int64.self) else { return Self.notFound }
            return try self.withPages { try $0.source(shard: shard, id: id).map { Self.html($0) } ?? Self.notFound }
        }
        router.get("/media/:shard/:id") { _, context in
            guard let shard = context.parameters.get("shard", as: Int.self), let id = context.parameters.get("id", as: Int64.self),
                  let image = try self.withPages({ try $0.reader.image(shard: shard, mediaID: id) }) else { return Self.notFound }
            let type: String
            switch image.format.lowercased() {
            case "jpeg", "jpg": type = "image/jpeg"
            case "png": type = "image/png"
            case "webp": type = "image/webp"
            default: type = "application/octet-stream"
            }
            // Frames never change under a row id while this server runs: let the browser keep them.
            return Response(status: .ok, headers: [.contentType: type, .cacheControl: "max-age=3600", .init("X-Content-Type-Options")!: "nosniff"],
                            body: .init(byteBuffer: ByteBuffer(bytes: image.data)))
        }
        router.get("/runs") { _, _ in try self.withPages { Self.html(try $0.runs()) } }
        router.get("/errors") { request, _ in
            let page = Self.formValues(request.uri.query)["page"].flatMap(Int.init) ?? 0
            return try self.withPages { Self.html(try $0.errors(page: page)) }
        }
        // Waiting for the start-up computation beats running the same scans a second time beside it.
        router.get("/histograms") { _, _ in
            _ = self.warmed.wait(timeout: .now() + 120)
            return try self.withPages { Self.html(try $0.histogramsPage()) }
        }
        router.get("/histogram/:index") { _, context in
            let i = context.parameters.get("index", as: Int.self) ?? -1
            _ = self.warmed.wait(timeout: .now() + 120)
            let hists = try self.withPages { try $0.histograms() }
            guard hists.indices.contains(i) else { return Self.notFound }
            return Response(status: .ok, headers: [.contentType: "image/svg+xml"], body: .init(byteBuffer: ByteBuffer(string: HistogramSVG.render(hists[i]))))
        }
        return router
    }

    /// Serves until SIGINT/SIGTERM. `ready` gets the bound address (port 0 picks a free one).
    public func run(host: String, port: Int, ready: @escaping @Sendable (String) -> Void) async throws {
        // The read-only check wraps the whole router, not its routes: router middleware runs only
        // inside a matched route or the not-found path, where a HEAD could no longer become a GET.
        let routes = router().buildResponder()
        let responder = CallbackResponder<BasicRequestContext> { request, context in
            try await ReadOnlyMiddleware().handle(request, context: context) { try await routes.respond(to: $0, context: $1) }
        }
        let app = Application(responder: responder, configuration: .init(address: .hostname(host, port: port), serverName: "capfilt"),
                              onServerRunning: { channel in
                                  let p = channel.localAddress?.port ?? port
                                  ready(host.contains(":") ? "http://[\(host)]:\(p)/" : "http://\(host):\(p)/")
                              })
        try await app.runService()
    }
}

/// Refuses every method but GET and HEAD before routing: the browser never writes.
struct ReadOnlyMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            return Response(status: .methodNotAllowed, headers: [.allow: "GET, HEAD", .contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "read-only: only GET and HEAD\n")))
        }
        guard request.method == .head else { return try await next(request, context) }
        // HEAD is GET without the body: route it as GET, keep the status and headers, drop the bytes.
        var head = request.head
        head.method = .get
        var response = try await next(Request(head: head, body: request.body), context)
        response.body = .init()
        return response
    }
}
