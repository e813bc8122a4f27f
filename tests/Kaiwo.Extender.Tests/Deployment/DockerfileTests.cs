using Kaiwo.Extender.Hosting;
using static Kaiwo.Extender.Tests.Deployment.DeploymentFiles;

namespace Kaiwo.Extender.Tests.Deployment;

/// <summary>
/// The Dockerfile read as text (no container engine runs here): built with the SDK, run on the ASP.NET runtime
/// alone as a non-root user, listening where the Deployment expects it.
/// </summary>
public sealed class DockerfileTests
{
    private static readonly string[] RootUsers = ["root", "0"];

    private sealed record Stage(string Image, string? Name, IReadOnlyList<string> Instructions);

    [Fact]
    public void Dockerfile_Stages_BuildWithTheSdkAndRunOnTheAspNetRuntimeOnly()
    {
        var stages = Stages();

        Assert.True(stages.Count >= 2, "not a multi-stage build");
        Assert.StartsWith("mcr.microsoft.com/dotnet/sdk:", stages[0].Image, StringComparison.Ordinal);
        var final = stages[^1];
        Assert.StartsWith("mcr.microsoft.com/dotnet/aspnet:", final.Image, StringComparison.Ordinal);

        // Nothing of the build stage but its output, and no package manager or SDK install in the final stage.
        Assert.DoesNotContain(final.Instructions, i => i.StartsWith("RUN ", StringComparison.OrdinalIgnoreCase));
        Assert.All(
            final.Instructions.Where(i => i.StartsWith("COPY ", StringComparison.OrdinalIgnoreCase)),
            copy => Assert.Contains($"--from={stages[0].Name}", copy, StringComparison.Ordinal));
    }

    [Fact]
    public void Dockerfile_FinalStage_RunsAsTheImagesNonRootUser()
    {
        var final = Stages()[^1];

        var user = final.Instructions.LastOrDefault(i => i.StartsWith("USER ", StringComparison.OrdinalIgnoreCase));

        Assert.NotNull(user);
        var name = user["USER ".Length..].Trim();
        Assert.DoesNotContain(name.Split(':')[0], RootUsers);
        Assert.Equal("$APP_UID", name);
    }

    [Fact]
    public void Dockerfile_FinalStage_SetsNoUrlsAndExposesTheListenersPorts()
    {
        var final = Stages()[^1];
        var env = string.Join(' ', final.Instructions.Where(i => i.StartsWith("ENV ", StringComparison.OrdinalIgnoreCase)));
        var expose = final.Instructions.Single(i => i.StartsWith("EXPOSE ", StringComparison.OrdinalIgnoreCase)).Split(' ')[1..];

        // The listeners are the extender's own settings: URLs from the image would only be overridden, with a warning.
        Assert.DoesNotContain("URLS", env, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("ASPNETCORE_HTTP_PORTS=", env, StringComparison.Ordinal);
        foreach (var listener in new[] { Listener.Verbs, Listener.Metrics, Listener.Webhook })
        {
            Assert.Contains(ManifestTests.ListenerUrl(listener).Port.ToString(System.Globalization.CultureInfo.InvariantCulture), expose);
        }
    }

    /// <summary>The stages of the Dockerfile: instructions with their continuation lines joined, comments dropped.</summary>
    private static List<Stage> Stages()
    {
        var instructions = new List<string>();
        var current = string.Empty;
        foreach (var raw in File.ReadAllLines(Dockerfile))
        {
            var line = raw.Trim();
            if (line.StartsWith('#') || (line.Length == 0 && current.Length == 0))
            {
                continue;
            }

            current = current.Length == 0 ? line : $"{current} {line}";
            if (current.EndsWith('\\'))
            {
                current = current[..^1].TrimEnd();
                continue;
            }

            instructions.Add(current);
            current = string.Empty;
        }

        var stages = new List<Stage>();
        foreach (var instruction in instructions)
        {
            if (instruction.StartsWith("FROM ", StringComparison.OrdinalIgnoreCase))
            {
                var words = instruction.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(w => !w.StartsWith("--", StringComparison.Ordinal)).ToList();
                stages.Add(new Stage(words[1], words.Count >= 4 && words[2].Equals("AS", StringComparison.OrdinalIgnoreCase) ? words[3] : null, new List<string>()));
            }
            else if (stages.Count > 0)
            {
                ((List<string>)stages[^1].Instructions).Add(instruction);
            }
        }

        return stages;
    }
}
