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
# The base image defaults to 8080; the extender listens on 8888 on all interfaces (--urls still overrides).
# ASPNETCORE_URLS alone loses to appsettings.json's "Urls" (http://localhost:8888, for `dotnet run`), which is
# read after it; the unprefixed Urls variable is read after appsettings.json and wins.
ENV ASPNETCORE_URLS=http://+:8888 \
    Urls=http://+:8888
USER $APP_UID
# 8888: verbs, health and /metrics over HTTP; 8443: HTTPS when Tls:Enabled (certificate files mounted).
EXPOSE 8888 8443
ENTRYPOINT ["dotnet", "Kaiwo.Extender.dll"]
