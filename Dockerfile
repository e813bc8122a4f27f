# syntax=docker/dockerfile:1

# Build: the whole repository (minus .dockerignore) so that Directory.*.props, global.json,
# .editorconfig and examples/cluster.yaml (linked into the output) are all there.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    dotnet publish src/Kaiwo.Extender/Kaiwo.Extender.csproj -c Release -o /app --no-self-contained

# Run: ASP.NET Core runtime only, as the images' non-root user (APP_UID, 1654).
FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
# The extender binds its own listeners (Listeners:Verbs:Url 127.0.0.1:8888, Listeners:Metrics:Url 0.0.0.0:9090,
# Listeners:Webhook:Url 0.0.0.0:8443 when the webhook is on), whatever URLs the host is given: clear the base
# image's port 8080, which would only be overridden with a warning.
ENV ASPNETCORE_HTTP_PORTS=
# Every method JIT-compiled at full optimisation, none of the framework's precompiled (ReadyToRun) code, which is
# built for any x64 and is not recompiled when tiered compilation is off (the project turns it off). Measured with
# benchmarks/Kaiwo.EndToEnd --ready-to-run true|false: a quarter less of the extender's CPU per pod placed, for a
# start about 3 s slower (README, Performance). The runtime has no runtimeconfig setting for it, only this variable.
ENV DOTNET_ReadyToRun=0
USER $APP_UID
# 9090: /metrics and health; 8443: the admission webhook over HTTPS; 8888: the verbs, on loopback unless served
# over HTTPS with client certificates (the service mode).
EXPOSE 9090 8443 8888
ENTRYPOINT ["dotnet", "Kaiwo.Extender.dll"]
