using System.Net;
using Microsoft.Extensions.Options;

namespace Kaiwo.Extender.Tests.Hosting;

/// <summary>Settings are validated at start: a bad one stops the start, and every problem is listed at once.</summary>
public sealed class StartupValidationTests
{
    [Fact]
    public void Start_BadSchedulingSettings_ThrowsOneOptionsValidationExceptionListingEveryProblem()
    {
        using var factory = new ExtenderFactory(new Dictionary<string, string?>
        {
            ["Scheduling:MinimumGpuFraction"] = "0",
            ["Scheduling:TimeSlicingOversubscription"] = "0.5",
            ["Scheduling:Stages:nope:Enabled"] = "true",
        });

        var ex = Assert.Throws<OptionsValidationException>(() => factory.CreateClient());

        Assert.Contains("Scheduling:MinimumGpuFraction", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Scheduling:TimeSlicingOversubscription", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Scheduling:Stages:nope", ex.Message, StringComparison.Ordinal);
        Assert.Equal(3, ex.Failures.Count());
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("-00:00:05")]
    [InlineData("02:00:00")]
    public void Start_GangReservationTtlOutOfRange_RefusesToStartNamingTheKeyAndTheRange(string ttl)
    {
        using var factory = new ExtenderFactory(new Dictionary<string, string?> { ["Scheduling:GangReservationTtl"] = ttl });

        var ex = Assert.Throws<OptionsValidationException>(() => factory.CreateClient());

        var failure = Assert.Single(ex.Failures);
        Assert.Contains("Scheduling:GangReservationTtl is", failure, StringComparison.Ordinal);
        Assert.Contains("from 00:00:01 to 01:00:00", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Start_BadSettingsInBothSections_ListsEveryProblem()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"kaiwo-missing-{Guid.NewGuid():N}.yaml");
        using var factory = new ExtenderFactory(new Dictionary<string, string?>
        {
            ["Extender:ClusterFile"] = missing,
            ["Extender:MaxRequestBodyBytes"] = "1024",
            ["Scheduling:Stages:packing:Weight"] = "500",
        });

        var ex = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        var message = ex.Message;
        Assert.Contains(missing, message, StringComparison.Ordinal);
        Assert.Contains("Extender:MaxRequestBodyBytes", message, StringComparison.Ordinal);
        Assert.Contains("Scheduling:Stages:packing:Weight", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Scheduling:Stages:fit:Enabled", "false", "Scheduling:Stages:fit:Enabled is false")]
    [InlineData("Scheduling:Stages:request:Enabled", "false", "Scheduling:Stages:request:Enabled is false")]
    [InlineData("Scheduling:Stages:queue:Enabled", "false", "Scheduling:Stages:queue:Enabled is false")]
    [InlineData("Scheduling:Stages:fit:Weight", "3", "Scheduling:Stages:fit:Weight is 3")]
    [InlineData("Scheduling:Stages:gang:Enabled", "false", "Scheduling:Stages:gang:Enabled is false")]
    public void Start_CheckSwitchedOffOrWeighed_RefusesToStartNamingTheKey(string key, string value, string expected)
    {
        using var factory = new ExtenderFactory(new Dictionary<string, string?> { [key] = value });

        var ex = Assert.Throws<OptionsValidationException>(() => factory.CreateClient());

        Assert.Contains(expected, Assert.Single(ex.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public void Start_BadSchedulerName_RefusesToStartNamingTheSettingAndTheValue()
    {
        using var factory = ExtenderFactory.ForMode("names", new Dictionary<string, string?>
        {
            ["Extender:SchedulerNames:0"] = "kaiwo-scheduler",
            ["Extender:SchedulerNames:1"] = "Not A Name",
        });

        var ex = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains("Extender:SchedulerNames has \"Not A Name\"", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_GoodOverrides_StartsAndServes()
    {
        // The same keys with acceptable values: stage names are matched in any case.
        await using var factory = ExtenderFactory.ForMode("names", new Dictionary<string, string?>
        {
            ["Scheduling:MinimumGpuFraction"] = "0.05",
            ["Scheduling:TimeSlicingOversubscription"] = "2",
            ["Scheduling:Stages:PACKING:Weight"] = "5",
            ["Scheduling:Stages:load:Enabled"] = "false",
            ["Scheduling:Stages:fit:Enabled"] = "true",
        });
        using var client = factory.CreateClient();

        var answer = await Fixtures.GetAsync(client, "/readyz");

        Assert.Equal(HttpStatusCode.OK, answer.Status);
    }
}
