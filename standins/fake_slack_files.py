"""The fake Slack's files (the v2 three-step upload) and views (just enough for modals and
the App Home), as strict as Slack."""

from __future__ import annotations

from typing import Any

from standins.fake_slack_base import WorkspaceBase
from standins.fake_slack_blocks import view_refusal
from standins.fake_slack_objects import Args, FakeFile, SlackError, opt_str, refuse, req_str


class FileAndViewMethods(WorkspaceBase):
    # -- files (the v2 three-step upload) --------------------------------------------

    def _files_get_upload_url(self, args: Args) -> dict[str, Any]:
        filename = req_str(args, "filename")
        length = req_str(args, "length")
        if not length.isdigit() or int(length) == 0:
            raise SlackError("invalid_arguments")
        file = FakeFile(id=self._new_id("F"), filename=filename, length=int(length))
        self.files[file.id] = file
        return {"upload_url": f"{self.upload_root}/upload/{file.id}", "file_id": file.id}

    def _files_complete_upload(self, args: Args) -> dict[str, Any]:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            raise SlackError("invalid_arguments")
        if not all(isinstance(e, dict) and e.get("id") in self.files for e in entries):
            raise SlackError("file_not_found")
        targets = [self._joined_channel(args, "channel_id")] if opt_str(args, "channel_id") else []
        for ref in (opt_str(args, "channels") or "").split(","):
            if ref.strip():
                targets.append(self._joined_channel({"channel": ref.strip()}))
        shared = [self.files[e["id"]] for e in entries]
        for file, entry in zip(shared, entries, strict=True):
            file.title = str(entry.get("title") or file.filename)
        for channel in targets:
            for file in shared:
                file.channels.append(channel.id)
            self.post(
                channel,
                opt_str(args, "initial_comment") or "",
                files=[f.id for f in shared],
                thread_ts=opt_str(args, "thread_ts"),
            )
        return {"files": [self._file_json(f) for f in shared]}

    @staticmethod
    def _file_json(file: FakeFile) -> dict[str, Any]:
        return {
            "id": file.id,
            "name": file.filename,
            "title": file.title,
            "size": len(file.content),
            "channels": list(file.channels),
        }

    # -- views: just enough for modals and the App Home ------------------------------

    def _store_view(self, view_id: str, args: Args) -> dict[str, Any]:
        view = args.get("view")
        refuse(view_refusal(view))
        assert isinstance(view, dict)  # view_refusal refused anything else
        self.views[view_id] = {**view, "id": view_id, "team_id": self.team_id}
        return {"view": dict(self.views[view_id])}

    def _views_open(self, args: Args) -> dict[str, Any]:
        req_str(args, "trigger_id")
        return self._store_view(self._new_id("V"), args)

    def _views_update(self, args: Args) -> dict[str, Any]:
        view_id = opt_str(args, "view_id")
        external_id = opt_str(args, "external_id")
        if view_id is None and external_id is not None:
            matches = (k for k, v in self.views.items() if v.get("external_id") == external_id)
            view_id = next(matches, None)
            if view_id is None:
                raise SlackError("not_found")
        if view_id is None:
            raise SlackError("invalid_arguments")
        if view_id not in self.views:
            raise SlackError("not_found")
        return self._store_view(view_id, args)

    def _views_publish(self, args: Args) -> dict[str, Any]:
        self._user(req_str(args, "user_id"))
        return self._store_view(self._new_id("V"), args)
