using System.Globalization;
using System.Net;
using System.Text;

namespace Kaiwo.Extender.Simulation;

/// <summary>One line of a chart: a name for the legend, a colour and a dash pattern (so that it reads in black and white too).</summary>
internal sealed record ChartLine(string Name, string Color, string Dash, IReadOnlyList<double> Values, bool Step = false);

/// <summary>One group of bars: a label under it and one value per series.</summary>
internal sealed record BarGroup(string Label, IReadOnlyList<double> Values);

/// <summary>Inline SVG charts: no script, no network, scalable (viewBox) for screen and print.</summary>
internal static class SvgChart
{
    private const int Left = 56;
    private const int Right = 12;
    private const int Top = 14;
    private const int Bottom = 34;

    /// <summary>A line chart over [0, xMax] hours; values are evenly spaced bucket means.</summary>
    public static string Lines(IReadOnlyList<ChartLine> lines, double xMaxHours, double yMax, string yLabel, Func<double, string> yFormat, int width = 900, int height = 260, bool legend = true)
    {
        yMax = yMax <= 0 ? 1 : yMax;
        var plotW = width - Left - Right;
        var plotH = height - Top - Bottom;
        var svg = Open(width, height, yLabel);
        Axes(svg, width, height, xMaxHours, yMax, yFormat);
        foreach (var line in lines)
        {
            if (line.Values.Count == 0)
            {
                continue;
            }

            var step = plotW / (double)line.Values.Count;
            var points = new StringBuilder();
            for (var i = 0; i < line.Values.Count; i++)
            {
                var y = Top + plotH - (Math.Clamp(line.Values[i], 0, yMax) / yMax * plotH);
                if (line.Step)
                {
                    points.Append(F(Left + (i * step))).Append(',').Append(F(y)).Append(' ');
                    points.Append(F(Left + ((i + 1) * step))).Append(',').Append(F(y)).Append(' ');
                }
                else
                {
                    points.Append(F(Left + ((i + 0.5) * step))).Append(',').Append(F(y)).Append(' ');
                }
            }

            svg.Append($"<polyline fill=\"none\" stroke=\"{line.Color}\" stroke-width=\"1.8\" stroke-dasharray=\"{line.Dash}\" points=\"{points.ToString().TrimEnd()}\"><title>{E(line.Name)}</title></polyline>");
        }

        svg.Append("</svg>");
        return (legend ? Legend(lines.Select(l => (l.Name, l.Color, l.Dash))) : string.Empty) + svg;
    }

    /// <summary>Grouped bars: one group per label, one bar per series, with the value written above each bar.</summary>
    public static string Bars(IReadOnlyList<(string Name, string Color)> series, IReadOnlyList<BarGroup> groups, string yLabel, Func<double, string> yFormat, int width = 900, int height = 280)
    {
        var yMax = Math.Max(1e-9, groups.SelectMany(g => g.Values).DefaultIfEmpty(1).Max()) * 1.12;
        var plotW = width - Left - Right;
        var plotH = height - Top - Bottom;
        var svg = Open(width, height, yLabel);
        YAxis(svg, width, height, yMax, yFormat);
        var groupW = plotW / (double)Math.Max(1, groups.Count);
        var barW = groupW * 0.8 / Math.Max(1, series.Count);
        for (var g = 0; g < groups.Count; g++)
        {
            var x0 = Left + (g * groupW) + (groupW * 0.1);
            for (var s = 0; s < series.Count && s < groups[g].Values.Count; s++)
            {
                var v = groups[g].Values[s];
                var h = v / yMax * plotH;
                var x = x0 + (s * barW);
                svg.Append($"<rect x=\"{F(x)}\" y=\"{F(Top + plotH - h)}\" width=\"{F(barW * 0.92)}\" height=\"{F(h)}\" fill=\"{series[s].Color}\"><title>{E(series[s].Name)}: {E(yFormat(v))}</title></rect>");
                svg.Append($"<text x=\"{F(x + (barW * 0.46))}\" y=\"{F(Top + plotH - h - 3)}\" text-anchor=\"middle\" class=\"v\">{E(yFormat(v))}</text>");
            }

            svg.Append($"<text x=\"{F(x0 + (groupW * 0.4))}\" y=\"{height - 12}\" text-anchor=\"middle\">{E(groups[g].Label)}</text>");
        }

        svg.Append("</svg>");
        return Legend(series.Select(s => (s.Name, s.Color, "0"))) + svg;
    }

    public static string Legend(IEnumerable<(string Name, string Color, string Dash)> items)
    {
        var html = new StringBuilder("<div class=\"legend\">");
        foreach (var (name, color, dash) in items)
        {
            html.Append($"<span><svg width=\"28\" height=\"10\" aria-hidden=\"true\"><line x1=\"0\" y1=\"5\" x2=\"28\" y2=\"5\" stroke=\"{color}\" stroke-width=\"3\" stroke-dasharray=\"{dash}\"/></svg>{E(name)}</span>");
        }

        return html.Append("</div>").ToString();
    }

    private static StringBuilder Open(int width, int height, string yLabel) =>
        new($"<svg viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{E(yLabel)}\" xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\">" +
            $"<text x=\"12\" y=\"{Top + ((height - Top - Bottom) / 2)}\" transform=\"rotate(-90 12 {Top + ((height - Top - Bottom) / 2)})\" text-anchor=\"middle\">{E(yLabel)}</text>");

    private static void Axes(StringBuilder svg, int width, int height, double xMaxHours, double yMax, Func<double, string> yFormat)
    {
        YAxis(svg, width, height, yMax, yFormat);
        var plotW = width - Left - Right;
        var stepHours = NiceStep(xMaxHours / 8);
        for (var h = 0.0; h <= xMaxHours + 1e-9; h += stepHours)
        {
            var x = Left + (h / Math.Max(1e-9, xMaxHours) * plotW);
            svg.Append($"<line x1=\"{F(x)}\" y1=\"{height - Bottom}\" x2=\"{F(x)}\" y2=\"{height - Bottom + 4}\" class=\"axis\"/>");
            svg.Append($"<text x=\"{F(x)}\" y=\"{height - Bottom + 16}\" text-anchor=\"middle\">{F(h)} h</text>");
        }
    }

    private static void YAxis(StringBuilder svg, int width, int height, double yMax, Func<double, string> yFormat)
    {
        var plotH = height - Top - Bottom;
        var step = NiceStep(yMax / 5);
        for (var v = 0.0; v <= yMax + 1e-9; v += step)
        {
            var y = Top + plotH - (v / yMax * plotH);
            svg.Append($"<line x1=\"{Left}\" y1=\"{F(y)}\" x2=\"{width - Right}\" y2=\"{F(y)}\" class=\"grid\"/>");
            svg.Append($"<text x=\"{Left - 6}\" y=\"{F(y + 4)}\" text-anchor=\"end\">{E(yFormat(v))}</text>");
        }

        svg.Append($"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Top + plotH}\" class=\"axis\"/>");
        svg.Append($"<line x1=\"{Left}\" y1=\"{Top + plotH}\" x2=\"{width - Right}\" y2=\"{Top + plotH}\" class=\"axis\"/>");
    }

    /// <summary>1, 2 or 5 times a power of ten, at least <paramref name="rough"/>.</summary>
    internal static double NiceStep(double rough)
    {
        if (rough <= 0 || !double.IsFinite(rough))
        {
            return 1;
        }

        var power = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        var m = rough / power;
        return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
    }

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
