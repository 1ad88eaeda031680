using System.Text.Json;
using System.Text.Json.Serialization;

namespace GupSim.Cli;

/// <summary>The one JSON style of every command: camelCase, indented, nulls written.</summary>
public static class Json
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);
}
