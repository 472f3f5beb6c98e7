import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Media
import XCTest

/// Starts the real `capfilt serve` on a generated dataset (hostile alt-texts included), on 127.0.0.1
/// only, and looks at its pages the way a person would: through headless Chromium.
final class ServeTests: XCTestCase {
    static let binary: URL = {
        var dir = Bundle(for: ServeTests.self).bundleURL
        while dir.pathExtension == "xctest" || dir.lastPathComponent == "Contents" { dir.deleteLastPathComponent() }
        return dir.appendingPathComponent("capfilt")
    }()
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    var dir: URL!
    var server: Process?
    var base = ""

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: Self.binary.path), "capfilt not built at \(Self.binary.path)")
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-serve-\(getpid())-\(name.filter { $0.isLetter })")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let out = dir.appendingPathComponent("out").path
        let synth = try run(Self.binary.path, ["synth-shards", out, "--sources", "120", "--shard-frames", "150"])
        XCTAssertEqual(synth.code, 0, synth.out)
        base = try startServer(out)
    }

    override func tearDown() {
        if let s = server, s.isRunning { s.terminate(); s.waitUntilExit() }
    }

    func run(_ path: String, _ args: [String]) throws -> (code: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Port 0: the server picks a free port and prints its URL when it is listening.
    func startServer(_ out: String) throws -> String {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = ["serve", out, "--port", "0"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        server = p
        var line = ""
        let deadline = Date().addingTimeInterval(30)
        while !line.contains("\n"), Date() < deadline, p.isRunning {
            line += String(decoding: pipe.fileHandleForReading.availableData, as: UTF8.self)
        }
        let url = try XCTUnwrap(line.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }, line)
        XCTAssertTrue(url.hasPrefix("http://127.0.0.1:"), "binds loopback by default: \(line)")
        return url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    func request(_ path: String, method: String = "GET") throws -> (status: Int, body: Data, type: String) {
        var req = URLRequest(url: URL(string: base + path)!)
        req.httpMethod = method
        if method == "POST" { req.httpBody = Data("x=1".utf8) }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: (Int, Data, String) = (0, Data(), "")
        URLSession.shared.dataTask(with: req) { data, response, _ in
            let r = response as? HTTPURLResponse
            result = (r?.statusCode ?? 0, data ?? Data(), r?.value(forHTTPHeaderField: "Content-Type") ?? "")
            done.signal()
        }.resume()
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        return result
    }

    func testPagesOverHTTPAreReadOnlyAndStayInsideTheOutput() throws {
        let home = try request("/")
        XCTAssertEqual(home.status, 200)
        XCTAssertTrue(home.type.hasPrefix("text/html"))
        let html = String(decoding: home.body, as: UTF8.self)
        XCTAssertTrue(html.contains("id=\"next\""), "more than one page of pairs")
        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            XCTAssertEqual(try request("/", method: method).status, 405, method)
            XCTAssertEqual(try request("/media/0/1", method: method).status, 405, method)
        }
        XCTAssertEqual(try request("/media/0/1").type, "image/jpeg")
        let head = try request("/runs", method: "HEAD")
        XCTAssertEqual(head.status, 200)
        XCTAssertTrue(head.type.hasPrefix("text/html"))
        XCTAssertTrue(head.body.isEmpty)
        for path in ["/media/0/..%2F..%2Fetc%2Fpasswd", "/media/../../etc/passwd", "/source/99/1", "/source/0/999999", "/media/-1/1", "/nope"] {
            let r = try request(path)
            XCTAssertEqual(r.status, 404, path)
            XCTAssertFalse(String(decoding: r.body, as: UTF8.self).contains("root:"), path)
        }
        // Filters: kept only, an ITM range, origin, and a text search, all reflected in the cards.
        let filtered = String(decoding: try request("/?kept=0&origin=web&itm_min=0.2&itm_max=0.45").body, as: UTF8.self)
        let cards = filtered.components(separatedBy: "class=\"card").count - 1
        XCTAssertGreaterThan(cards, 0)
        XCTAssertEqual(filtered.components(separatedBy: "class=\"card dropped\"").count - 1, cards, "kept=0 shows only dropped pairs")
        let search = String(decoding: try request("/?q=bicycle").body, as: UTF8.self)
        XCTAssertTrue(search.contains("bicycle"))
        XCTAssertFalse(search.contains("a red car "), "only texts with the word")
        // A form submits spaces as `+`: two words, both required, not one word "script+red".
        let twoWords = String(decoding: try request("/?q=script+red").body, as: UTF8.self)
        XCTAssertTrue(twoWords.contains("class=\"card"), "q=script+red finds the hostile text with both words")
        XCTAssertFalse(twoWords.contains("a blue boat"))
        // Paging forward and back returns to the same first card.
        let next = try XCTUnwrap(html.range(of: "id=\"next\" href=\"/").map { html[$0.upperBound...].prefix { $0 != "\"" } })
        let page2 = String(decoding: try request("/" + next.replacingOccurrences(of: "&amp;", with: "&")).body, as: UTF8.self)
        XCTAssertNotEqual(page2, html)
        let prev = try XCTUnwrap(page2.range(of: "id=\"prev\" href=\"/").map { page2[$0.upperBound...].prefix { $0 != "\"" } })
        let back = String(decoding: try request("/" + prev.replacingOccurrences(of: "&amp;", with: "&")).body, as: UTF8.self)
        func firstCard(_ s: String) -> Substring? { s.range(of: "data-text-id=\"").map { s[$0.upperBound...].prefix { $0 != "\"" } } }
        XCTAssertEqual(firstCard(back), firstCard(html))
    }

    func testChromiumRendersTheMainPagesWithHostileTextsEscaped() throws {
        let chromium = try XCTUnwrap(Self.chromium, "chromium is installed by `make deps`")
        // A source page of one of the sources that got a hostile alt-text (every 13th, from 5).
        let sourcePage = try XCTUnwrap(findSourceWithHostileText(), "a source with a hostile text")
        // Each hostile variant is found by a word of its own, so every one of them is rendered.
        let pages = ["/", "/?q=script", "/?q=onerror", "/?q=textarea", "/?origin=web&kept=1", sourcePage, "/histograms", "/runs", "/errors"]
        for page in pages {
            let dom = try dumpDOM(chromium, base + page)
            let doc = DOMScan(dom)
            XCTAssertTrue(doc.title.hasPrefix("capfilt"), "\(page): title is \(doc.title)")
            XCTAssertEqual(doc.elements["script", default: 0], 0, "\(page): a <script> element got into the DOM")
            XCTAssertEqual(doc.eventAttributes, [], "\(page): an on* attribute got into the DOM")
            XCTAssertEqual(doc.elements["textarea", default: 0], 0, page)
            if page != "/histograms" { XCTAssertEqual(doc.elements["svg", default: 0], 0, "\(page): an injected <svg>") }
            if page == "/" || page.hasPrefix("/?") {
                XCTAssertEqual(doc.classCount("card"), doc.elements["img", default: 0], "\(page): one img per card, no injected ones")
                XCTAssertGreaterThan(doc.classCount("card"), 0, page)
            }
            if page.hasPrefix("/?q=") { XCTAssertGreaterThan(doc.classCount("card"), 1, "\(page) shows the hostile texts") }
            if page == "/?q=script" {
                XCTAssertTrue(dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt; a red car"), "the hostile text is shown as text")
            }
            if page == sourcePage {
                XCTAssertGreaterThan(doc.classCount("frame"), 0, "frames on the timeline")
                XCTAssertTrue(dom.contains("id=\"scores\""))
            }
            if page == "/histograms" { XCTAssertEqual(doc.classCount("histogram"), 2, "itm and clip") }
            if page == "/errors" { XCTAssertTrue(dom.contains("moov atom not found")) }
        }
        // A picture of the grid, and it is not blank: many distinct colours, thumbnails included.
        let png = dir.appendingPathComponent("grid.png")
        let shot = try run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,900",
                                      "--virtual-time-budget=5000", "--screenshot=\(png.path)", base + "/"])
        XCTAssertEqual(shot.code, 0)
        let image = try ImageDecoder().decode([UInt8](try Data(contentsOf: png)), format: .png)
        XCTAssertEqual(image.width, 1280)
        var colours = Set<UInt32>()
        var nonWhite = 0
        for y in stride(from: 0, to: image.height, by: 3) {
            for x in stride(from: 0, to: image.width, by: 3) {
                let (r, g, b) = image.pixel(x, y)
                colours.insert(UInt32(r) << 16 | UInt32(g) << 8 | UInt32(b))
                if Int(r) + Int(g) + Int(b) < 700 { nonWhite += 1 }
            }
        }
        XCTAssertGreaterThan(colours.count, 200, "thumbnails and text, not a blank page")
        XCTAssertGreaterThan(nonWhite, (image.width / 3) * (image.height / 3) / 10)
        if let keep = ProcessInfo.processInfo.environment["CAPFILT_SCREENSHOTS"] {
            try? FileManager.default.copyItem(at: png, to: URL(fileURLWithPath: keep).appendingPathComponent("grid.png"))
        }
    }

    func testSummaryHTMLIsOneSelfContainedPage() throws {
        let file = dir.appendingPathComponent("report.html")
        let r = try run(Self.binary.path, ["summary", dir.appendingPathComponent("out").path, "--html", file.path, "--examples", "40"])
        XCTAssertEqual(r.code, 0, r.out)
        let html = try String(contentsOf: file, encoding: .utf8)
        let doc = DOMScan(html)
        XCTAssertEqual(doc.elements["script", default: 0], 0)
        XCTAssertEqual(doc.eventAttributes, [])
        XCTAssertEqual(doc.classCount("histogram"), 2)
        XCTAssertTrue(html.contains("id=\"kept-examples\"") && html.contains("id=\"dropped-examples\""))
        XCTAssertGreaterThanOrEqual(html.components(separatedBy: "src=\"data:image/jpeg;base64,").count - 1, 40, "frames inlined")
        XCTAssertFalse(html.contains("src=\"/"), "no links back to a server")
        XCTAssertTrue(html.contains("moov atom not found"), "errors grouped by message")
        XCTAssertTrue(html.contains("id=\"changes\""), "the latest run's counters")
    }

    func findSourceWithHostileText() throws -> String? {
        let html = String(decoding: try request("/?q=script").body, as: UTF8.self)
        return html.range(of: "href=\"/source/").map { "/source/" + html[$0.upperBound...].prefix { $0 != "\"" } }
    }

    func dumpDOM(_ chromium: String, _ url: String) throws -> String {
        let r = try run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000", "--dump-dom", url])
        XCTAssertEqual(r.code, 0, url)
        XCTAssertTrue(r.out.contains("<html"), "\(url): \(r.out.prefix(200))")
        return r.out
    }
}

/// Reads Chromium's serialised DOM: in it, text never holds a raw `<` and attribute values are always
/// double-quoted with `"` escaped, so a small scanner finds every element and attribute exactly.
struct DOMScan {
    var elements: [String: Int] = [:]
    var classes: [String] = []
    var eventAttributes: [String] = []
    var title = ""

    init(_ s: String) {
        let c = Array(s.utf8)
        var i = 0
        func isName(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || (b >= 48 && b <= 57) || b == 45 || b == 95 || b == 58 }
        while i < c.count {
            guard c[i] == 60, i + 1 < c.count, isName(c[i + 1]) else { i += 1; continue }   // '<' then a name
            i += 1
            let start = i
            while i < c.count, isName(c[i]) { i += 1 }
            let tag = String(decoding: c[start..<i], as: UTF8.self).lowercased()
            elements[tag, default: 0] += 1
            while i < c.count, c[i] != 62 {                              // until '>'
                if isName(c[i]) {
                    let a = i
                    while i < c.count, isName(c[i]) { i += 1 }
                    let attr = String(decoding: c[a..<i], as: UTF8.self).lowercased()
                    var value = ""
                    if i < c.count, c[i] == 61, i + 1 < c.count, c[i + 1] == 34 {  // ="..."
                        let v = i + 2
                        i = v
                        while i < c.count, c[i] != 34 { i += 1 }
                        value = String(decoding: c[v..<min(i, c.count)], as: UTF8.self)
                        i += 1
                    }
                    if attr.hasPrefix("on") { eventAttributes.append("\(tag) \(attr)") }
                    if attr == "class" { classes += value.split(separator: " ").map(String.init) }
                } else { i += 1 }
            }
            if tag == "title", let end = s[s.index(s.startIndex, offsetBy: 0)...].range(of: "</title>"),
               let open = s.range(of: "<title>") { title = String(s[open.upperBound..<end.lowerBound]) }
        }
    }

    func classCount(_ name: String) -> Int { classes.filter { $0 == name }.count }
}
