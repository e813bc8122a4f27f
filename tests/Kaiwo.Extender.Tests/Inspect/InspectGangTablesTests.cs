using System.Text.Json.Nodes;
using Kaiwo.Extender.Inspect;

namespace Kaiwo.Extender.Tests.Inspect;

/// <summary><c>inspect</c> prints reservations and gangs below the queues, when the answer has any.</summary>
public sealed class InspectGangTablesTests
{
    private static readonly Uri InspectUrl = new("http://127.0.0.1:8888/inspect");

    private static string Captured => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "inspect", "standalone-example.json")).ReplaceLineEndings("\n");

    [Fact]
    public void Render_AnswerWithReservationsAndGangs_PrintsBothTablesAfterTheQueues()
    {
        var answer = JsonNode.Parse(Captured)!;
        answer["reservations"] = JsonNode.Parse("""
            [{"pod": "team-b/train-0", "kind": "gang", "owner": "team-b/train", "node": "gpu-node-01", "gpus": [0, 1, 2, 3], "devices": "0,1,2,3", "compute": "4", "expires": "2026-11-23T14:01:00+00:00"}]
            """);
        answer["gangs"] = JsonNode.Parse("""
            [{"gang": "team-b/eval", "state": "waiting", "minMembers": 3, "present": 1, "bound": 0, "reserved": 0, "reason": "waiting for gang team-b/eval: 1 of 3 members", "since": "2026-11-23T14:00:00+00:00"},
             {"gang": "team-b/train", "state": "reserved", "minMembers": 2, "present": 2, "bound": 1, "reserved": 1, "reason": null, "since": "2026-11-23T14:00:00+00:00"}]
            """);

        var text = InspectCommand.Render(InspectUrl, 200, "application/json", answer.ToJsonString(), whole: true);
        var plain = InspectCommand.Render(InspectUrl, 200, "application/json", Captured, whole: true);

        Assert.StartsWith(plain, text, StringComparison.Ordinal);
        Assert.Equal(
            """

            NODE          GPUS   DEVICES   RESERVED FOR     KIND   OWNER          EXPIRES
            gpu-node-01   0-3    0,1,2,3   team-b/train-0   gang   team-b/train   2026-11-23T14:01:00Z

            GANG           STATE      MEMBERS   BOUND   RESERVED   REASON
            team-b/eval    waiting    1/3       0       0          waiting for gang team-b/eval: 1 of 3 members
            team-b/train   reserved   2/2       1       1          -

            """.ReplaceLineEndings("\n"),
            text[plain.Length..]);
    }
}
