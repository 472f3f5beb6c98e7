import ArgumentParser
import Foundation
import Serve

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Browse an output folder in a web browser: pairs, sources, scores, runs, errors (read-only).",
        discussion: """
        Example:
          capfilt serve out/demo                 # then open http://127.0.0.1:8080/
        Pages: / (pairs: filter by origin, kept, ITM/CLIP ranges and text search; paged), /source/S/ID
        (frames on a timeline, texts, every score), /histograms (SVG), /runs (the ledger), /errors.
        Shards are opened read-only; only GET and HEAD are answered (others get 405). The server listens
        on loopback unless --host says otherwise. --port 0 picks a free port.
        """
    )

    @Argument(help: "An output folder holding shard-*.sqlite files.") var output: String
    @Option(help: "Address to listen on. Anything but loopback exposes the dataset to the network.") var host = "127.0.0.1"
    @Option(help: "Port (0: any free port).") var port = 8080

    func run() throws {
        let browser = try Browser(directory: URL(fileURLWithPath: output))
        if !["127.0.0.1", "localhost", "::1"].contains(host) {
            FileHandle.standardError.write(Data("capfilt: warning: listening on \(host): anyone who can reach it can read the dataset\n".utf8))
        }
        // The command tree is synchronous; the server is async. Block this thread until it stops.
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: Error? = nil
        Task {
            do {
                try await browser.run(host: host, port: port) { url in
                    print("serving \(output) at \(url)")
                    fflush(stdout)
                }
            } catch { failure = error }
            done.signal()
        }
        done.wait()
        if let failure { throw failure }
    }
}
