namespace Kaiwo.Scheduling.Simulation;

/// <summary>
/// A step function of virtual time (each value holds until the next), reduced on the fly to equal buckets over
/// [0, horizon]: the time-weighted mean, minimum and maximum of each bucket, and the mean over the whole span.
/// </summary>
internal sealed class Timeline
{
    private readonly double _bucketSeconds;
    private readonly double[] _integral;
    private readonly double[] _min;
    private readonly double[] _max;
    private readonly double _horizon;
    private double _lastTime;
    private double _lastValue;
    private double _total;

    public Timeline(TimeSpan horizon, int buckets)
    {
        _horizon = Math.Max(horizon.TotalSeconds, 1e-9);
        _bucketSeconds = _horizon / buckets;
        _integral = new double[buckets];
        _min = Enumerable.Repeat(double.PositiveInfinity, buckets).ToArray();
        _max = Enumerable.Repeat(double.NegativeInfinity, buckets).ToArray();
    }

    /// <summary>The value from <paramref name="time"/> on (times never go back).</summary>
    public void Set(TimeSpan time, double value)
    {
        Advance(Math.Min(time.TotalSeconds, _horizon));
        _lastValue = value;
        Touch(Bucket(_lastTime), value);
    }

    /// <summary>Closes the series at the horizon.</summary>
    public TimelineSeries Finish()
    {
        Advance(_horizon);
        var mean = new double[_integral.Length];
        for (var b = 0; b < mean.Length; b++)
        {
            mean[b] = _integral[b] / _bucketSeconds;
            if (double.IsPositiveInfinity(_min[b]))
            {
                _min[b] = _max[b] = _lastValue;
            }
        }

        return new TimelineSeries(mean, _min, _max, _total / _horizon);
    }

    private void Advance(double to)
    {
        while (_lastTime < to)
        {
            var b = Bucket(_lastTime);
            var end = Math.Min(to, (b + 1) * _bucketSeconds);
            if (end <= _lastTime && b + 1 < _integral.Length)
            {
                b++; // floating-point rounding put a bucket edge just below us
                end = Math.Min(to, (b + 1) * _bucketSeconds);
            }

            if (end <= _lastTime)
            {
                end = to;
            }

            _integral[b] += (end - _lastTime) * _lastValue;
            _total += (end - _lastTime) * _lastValue;
            Touch(b, _lastValue);
            _lastTime = end;
        }
    }

    private void Touch(int bucket, double value)
    {
        _min[bucket] = Math.Min(_min[bucket], value);
        _max[bucket] = Math.Max(_max[bucket], value);
    }

    private int Bucket(double seconds) => Math.Clamp((int)(seconds / _bucketSeconds), 0, _integral.Length - 1);
}

/// <summary>A series per bucket (time-weighted mean, minimum, maximum) and its time-weighted mean over the whole span.</summary>
public sealed record TimelineSeries(IReadOnlyList<double> Mean, IReadOnlyList<double> Min, IReadOnlyList<double> Max, double Overall);
