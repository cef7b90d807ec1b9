import Foundation
import GatewayAuth
import GatewayConfig
import Testing

@Suite("Key material reader")
struct KeyMaterialReaderTests {
    @Test("a secret file keeps its bytes but loses trailing newlines")
    func secretFileTrimsNewline() throws {
        let fixture = ConfigFixture()
        let lf = fixture.write("lf.key", "abc def\n")
        let crlf = fixture.write("crlf.key", "abc def\r\n")
        let none = fixture.write("none.key", " abc def ")
        #expect(try KeyMaterialReader.secret(fromFile: lf) == Array("abc def".utf8))
        #expect(try KeyMaterialReader.secret(fromFile: crlf) == Array("abc def".utf8))
        #expect(try KeyMaterialReader.secret(fromFile: none) == Array(" abc def ".utf8))
    }

    @Test("missing and empty secrets are refused with the name, not the value")
    func refusals() throws {
        let fixture = ConfigFixture()
        let empty = fixture.write("empty.key", "\n")
        #expect(throws: KeyError.self) { try KeyMaterialReader.secret(fromFile: empty) }
        #expect(throws: KeyError.self) { try KeyMaterialReader.secret(fromFile: fixture.directory + "/missing") }
        #expect(throws: KeyError.self) { try KeyMaterialReader.secret(fromFile: fixture.directory) }
        do {
            _ = try KeyMaterialReader.secret(fromEnvironment: "X", environment: ["X": ""])
            Issue.record("accepted an empty secret")
        } catch {
            #expect(error.description == "environment variable X is empty")
        }
        #expect(try KeyMaterialReader.secret(fromEnvironment: "X", environment: ["X": "v"]) == [UInt8(ascii: "v")])
    }

    @Test("a file is read up to exactly the limit; one byte more, or an endless device, is refused")
    func sizeIsBounded() throws {
        let fixture = ConfigFixture()
        let limit = KeyMaterialReader.maximumFileBytes
        let atLimit = fixture.write("at-limit.pem", String(repeating: "a", count: limit))
        let overLimit = fixture.write("over-limit.pem", String(repeating: "a", count: limit + 1))
        #expect(try KeyMaterialReader.contents(ofFile: atLimit).count == limit)
        do {
            _ = try KeyMaterialReader.contents(ofFile: overLimit)
            Issue.record("read a file over the limit")
        } catch {
            #expect(error.description == "\(overLimit) is larger than 1048576 bytes")
        }
        do {
            _ = try KeyMaterialReader.secret(fromFile: "/dev/zero")
            Issue.record("read /dev/zero")
        } catch {
            #expect(error.description == "/dev/zero is larger than 1048576 bytes")
        }
    }
}
