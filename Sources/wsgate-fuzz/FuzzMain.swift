import CFuzzSupport
import Foundation
import GatewayFuzz

/// `wsgate-fuzz TARGET [libFuzzer options] [CORPUS…]`.
///
/// In the fuzz build (`WSGATE_FUZZ=1`, see scripts/fuzz.sh) the arguments after TARGET go to
/// libFuzzer's driver. In an ordinary build it replays the given files or directories through
/// TARGET's check and exits 1 on the first broken invariant, so a reproducer can be run
/// without the sanitizer build.
@main
enum FuzzMain {
    /// The target the libFuzzer callback runs. `nonisolated(unsafe)` is sound here: it is
    /// written once in `main` before `LLVMFuzzerRunDriver` starts, and only read afterwards, on
    /// the driver's one thread (libFuzzer runs inputs sequentially).
    nonisolated(unsafe) static var target = FuzzTarget.token

    static func main() {
        var arguments = CommandLine.arguments
        // libFuzzer's fork mode starts workers with its own flags only, so the target also
        // travels in the environment the workers inherit.
        let named = arguments.count >= 2 ? FuzzTarget(rawValue: arguments[1]) : nil
        guard let chosen = named ?? ProcessInfo.processInfo.environment["WSGATE_FUZZ_TARGET"].flatMap(FuzzTarget.init(rawValue:)) else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: " | ")
            FileHandle.standardError.write(Data("usage: wsgate-fuzz (\(names)) [libFuzzer options | files]\n".utf8))
            exit(2)
        }
        target = chosen
        if named != nil { arguments.remove(at: 1) }
        setenv("WSGATE_FUZZ_TARGET", chosen.rawValue, 1)
        #if WSGATE_LIBFUZZER
        var argc = Int32(arguments.count)
        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let status = cArguments.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var argv = buffer.baseAddress
            return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzTestOneInput(data, size) }
        }
        exit(status)
        #else
        var failed = false
        for path in arguments.dropFirst() {
            for file in files(at: path) {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                if let failure = chosen.check(Array(data)) {
                    print("FAIL \(file): \(failure)")
                    failed = true
                }
            }
        }
        exit(failed ? 1 : 0)
        #endif
    }

    /// `path` itself, or the regular files directly inside it.
    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { (path as NSString).appendingPathComponent($0) }
    }
}

#if WSGATE_LIBFUZZER
/// libFuzzer's per-input entry point. `FuzzMain` hands it to `LLVMFuzzerRunDriver`; it is also
/// exported under libFuzzer's name because SwiftPM aliases `main` to the module's own entry
/// point, so the linker still pulls in libFuzzer's `main` object, which references it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    if let failure = FuzzMain.target.check(input) {
        // libFuzzer saves the input (artifact_prefix) when the process dies.
        fatalError("\(FuzzMain.target.rawValue): \(failure)")
    }
    return 0
}
#endif
