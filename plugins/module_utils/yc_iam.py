# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IAM service accounts as the user sees them: one conversion for yc_service_account and yc_service_account_info."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def service_account_to_user(account):
    return dict(id=account.id, folder_id=account.folder_id, name=account.name, description=account.description,
                labels=dict(account.labels), created_at=account.created_at.ToJsonString())
