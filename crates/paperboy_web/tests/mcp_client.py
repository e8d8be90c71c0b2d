"""Drives paperboy's MCP server with the reference Python client (PyPI `mcp`), as a third party.

    python mcp_client.py http URL [TOKEN]      # streamable HTTP, the token as a bearer header
    python mcp_client.py stdio COMMAND ARG...  # a subprocess over stdin and stdout

Reads a JSON list of calls, [{"tool": NAME, "args": {...}}, ...], from standard input; prints one
JSON object: the server's name, its tools (name, description, input schema) and each call's
result (isError, structuredContent, the text of its content).
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client


async def main() -> None:
    mode, target, *rest = sys.argv[1:]
    calls = json.load(sys.stdin)
    if mode == "http":
        headers = {"Authorization": f"Bearer {rest[0]}"} if rest else {}
        server = streamable_http_client(target, http_client=httpx2.AsyncClient(headers=headers, timeout=60))
    else:
        # The client passes the server only a few variables unless told; the test's own (the data
        # directory, the model) must reach it.
        server = StdioServerParameters(command=target, args=rest, env=dict(os.environ))
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
        results = []
        for call in calls:
            result = await client.call_tool(call["tool"], call.get("args", {}))
            dumped = result.model_dump(by_alias=True, mode="json")
            results.append(
                {
                    "isError": bool(dumped.get("isError")),
                    "structuredContent": dumped.get("structuredContent"),
                    "text": "".join(c.get("text", "") for c in dumped.get("content", [])),
                }
            )
        print(
            json.dumps(
                {
                    "tools": [{"name": t.name, "description": t.description, "inputSchema": t.input_schema} for t in tools],
                    "results": results,
                }
            )
        )


asyncio.run(main())
