import PackagePlugin

/// Embeds the admin dashboard's files (`dashboard/` at the package root) into the target it is
/// applied to, as `enum DashboardAssets` with one string per file, generated at build time.
///
/// Why embedded: the installed or containerised binary needs no resource bundle and no file at
/// run time (a static binary in an image has nowhere to find `Bundle.module`). Why generated:
/// the page's sources stay the only copy in git, so they cannot drift from what is served.
@main
struct EmbedDashboard: BuildToolPlugin {
    /// The files served by the dashboard, with the name each gets in `DashboardAssets`.
    private static let assets = [("indexHTML", "index.html"), ("appCSS", "app.css"), ("appJS", "app.js"), ("iconSVG", "icon.svg")]

    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let folder = context.package.directoryURL.appending(path: "dashboard")
        let inputs = Self.assets.map { folder.appending(path: $0.1) }
        let output = context.pluginWorkDirectoryURL.appending(path: "DashboardAssets.swift")
        let arguments = [output.path()] + zip(Self.assets, inputs).map { "\($0.0.0)=\($0.1.path())" }
        return [
            .buildCommand(
                displayName: "Embedding dashboard/ into \(target.name)",
                executable: try context.tool(named: "embed-dashboard").url,
                arguments: arguments,
                inputFiles: inputs,
                outputFiles: [output]
            )
        ]
    }
}
